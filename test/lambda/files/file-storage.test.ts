import { createS3Client, S3FileStorage } from '../../../lambda/files/file-storage';
import { type LocalS3, startLocalS3 } from '../../../local/local-s3';

/** The S3 adapter against a real S3 API (s3rver, in process): the same code local mode and Lambda run. */
describe('S3FileStorage against s3rver', () => {
  let s3Server: LocalS3;
  let storage: S3FileStorage;
  const s3 = () => createS3Client({ endpoint: s3Server.endpoint });
  let client: ReturnType<typeof createS3Client>;

  beforeAll(async () => {
    s3Server = await startLocalS3({ bucket: 'test-files' });
    client = s3();
    storage = new S3FileStorage(client, 'test-files');
  });
  afterAll(async () => {
    client.destroy();
    await s3Server.stop();
  });

  it('puts, gets and deletes an object byte for byte', async () => {
    const body = new Uint8Array([0, 1, 2, 255, 10, 13]);
    await storage.put('files/cus_a/file-1', body);
    expect(await storage.get('files/cus_a/file-1')).toEqual(body);
    await storage.delete('files/cus_a/file-1');
    expect(await storage.get('files/cus_a/file-1')).toBeUndefined();
  });

  it('answers undefined for a key that was never written', async () => {
    expect(await storage.get('files/cus_a/never')).toBeUndefined();
  });

  it('streams an object in chunks', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024, 7);
    await storage.put('files/cus_a/big', body);
    const chunks: Uint8Array[] = [];
    for await (const chunk of storage.read('files/cus_a/big')) chunks.push(chunk);
    expect(Buffer.concat(chunks).equals(body)).toBe(true);
  });

  it('composes a stream of small chunks into one object with 8 MiB multipart parts', async () => {
    const piece = Buffer.alloc(1024 * 1024 + 3, 'a');
    const expectedPieces = Array.from({ length: 17 }, (_, i) =>
      Buffer.from(piece.map((b) => b + (i % 20))),
    );
    async function* pieces() {
      for (const p of expectedPieces) yield p;
    }
    const { bytes } = await storage.compose('files/cus_a/composed', pieces());
    expect(bytes).toBe(17 * piece.length);
    const expected = Buffer.concat(expectedPieces);
    expect(Buffer.from((await storage.get('files/cus_a/composed')) ?? []).equals(expected)).toBe(
      true,
    );
  });

  it('composes an empty stream into an empty object', async () => {
    async function* nothing(): AsyncIterable<Uint8Array> {}
    expect(await storage.compose('files/cus_a/empty', nothing())).toEqual({ bytes: 0 });
    expect(await storage.get('files/cus_a/empty')).toEqual(new Uint8Array());
  });

  it('writes no object when the chunks fail part way (a validation failure)', async () => {
    async function* failing() {
      yield Buffer.alloc(9 * 1024 * 1024, 'x'); // one part already sent
      throw new Error('line 7 is not valid JSON');
    }
    await expect(storage.compose('files/cus_a/failed', failing())).rejects.toThrow('line 7');
    expect(await storage.get('files/cus_a/failed')).toBeUndefined();
  });

  it('signs a download URL that works without credentials', async () => {
    await storage.put('files/cus_a/signed', Buffer.from('{"a":1}\n'));
    const url = await storage.downloadUrl('files/cus_a/signed', 60);
    expect(url).toContain('X-Amz-Signature=');
    expect(url).toContain('X-Amz-Expires=60');
    const response = await fetch(url);
    expect(await response.text()).toBe('{"a":1}\n');
  });
});
