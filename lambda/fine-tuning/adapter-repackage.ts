import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { extract as tarExtract, pack as tarPack } from 'tar-stream';
import type * as yauzl from 'yauzl';
import {
  type ArchiveSource,
  adapterFileOf,
  CONFIG_FILE,
  InvalidAdapterError,
  openZip,
} from './adapter-archive';

/**
 * Repackages a checked adapter archive (zip or tar.gz, files at the root or in one folder) as the
 * ONE `.tar.gz` with `adapter_config.json` and `adapter_model.safetensors` at its root that a
 * SageMaker adapter inference component's `ArtifactUrl` must be. Streamed entry by entry: the
 * tensors (up to the files limit, 200 MB) are never held in memory. gzip level 1: safetensors of
 * bf16 weights hardly compress, so a higher level only costs the request's time.
 */
export function repackageAdapter(source: ArchiveSource, format: 'zip' | 'tar.gz'): Readable {
  const pack = tarPack();
  const gzip = createGzip({ level: 1 });
  const output = new PassThrough();
  pack.pipe(gzip).pipe(output);
  const fail = (error: Error) => output.destroy(error);
  gzip.on('error', fail);
  const addEntry = (name: string, size: number, content: Readable) =>
    new Promise<void>((resolve, reject) => {
      const entry = pack.entry({ name, size, mode: 0o644, mtime: new Date(0) }, (error) =>
        error ? reject(error) : resolve(),
      );
      content.on('error', reject);
      content.pipe(entry);
    });
  (async () => {
    if (format === 'zip') await fromZip(source, addEntry);
    else await fromTarGz(source, addEntry);
    pack.finalize();
  })().catch((error: Error) => {
    pack.destroy(error);
    fail(error);
  });
  return output;
}

type AddEntry = (name: string, size: number, content: Readable) => Promise<void>;

async function fromZip(source: ArchiveSource, add: AddEntry): Promise<void> {
  const zip = await openZip(source);
  try {
    const entries = await new Promise<yauzl.Entry[]>((resolve, reject) => {
      const found: yauzl.Entry[] = [];
      zip.on('entry', (entry: yauzl.Entry) => {
        if (adapterFileOf(entry.fileName)) found.push(entry);
        zip.readEntry();
      });
      zip.on('end', () => resolve(found));
      zip.on('error', reject);
      zip.readEntry();
    });
    // The config first: a reader of the tar (vLLM, our own check) finds it before the large
    // tensors.
    entries.sort(
      (a, b) =>
        Number(adapterFileOf(b.fileName) === CONFIG_FILE) -
        Number(adapterFileOf(a.fileName) === CONFIG_FILE),
    );
    for (const entry of entries) {
      const stream = await new Promise<Readable>((resolve, reject) =>
        zip.openReadStream(entry, (error, s) => (error || !s ? reject(error) : resolve(s))),
      );
      await add(adapterFileOf(entry.fileName) as string, entry.uncompressedSize, stream);
    }
  } finally {
    zip.close();
  }
}

async function fromTarGz(source: ArchiveSource, add: AddEntry): Promise<void> {
  const extract = tarExtract();
  const reading = pipeline(await source.stream(), createGunzip(), extract).catch((error: Error) => {
    throw new InvalidAdapterError(`the file is not a readable tar.gz archive (${error.message})`);
  });
  reading.catch(() => undefined); // awaited below
  for await (const entry of extract) {
    const file = entry.header.type === 'file' ? adapterFileOf(entry.header.name) : undefined;
    if (file) await add(file, entry.header.size ?? 0, entry as unknown as Readable);
    else entry.resume();
  }
  await reading;
}
