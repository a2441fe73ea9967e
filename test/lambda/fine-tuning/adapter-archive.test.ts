import {
  bufferSource,
  isUnsafeArchivePath,
  MAX_OTHER_TAR_BYTES,
  readAdapterArchive,
} from '../../../lambda/fine-tuning/adapter-archive';
import { type ArchiveEntries, adapterFiles, entriesOf, safetensors, tarGzOf, zipOf } from '../../support/adapters';

const LLAMA_8B = {
  hiddenSize: 4096,
  intermediateSize: 14_336,
  layers: 32,
  attentionHeads: 32,
  keyValueHeads: 8,
  headDim: 128,
};
const files = adapterFiles({ architecture: LLAMA_8B });

describe.each([
  ['zip', zipOf],
  ['tar.gz', tarGzOf],
] as const)('reading a %s adapter archive', (format, build) => {
  it('finds the config and the tensors of the safetensors header', async () => {
    const archive = await readAdapterArchive(bufferSource(await build(entriesOf(files))));
    expect(archive.format).toBe(format);
    expect(archive.config).toEqual(files.config);
    expect(Object.keys(archive.tensors)).toHaveLength(8);
    expect(archive.tensors['base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight']).toEqual({
      dtype: 'BF16',
      shape: [1024, 16],
    });
  });

  it('accepts the two files in one top-level folder and ignores other files', async () => {
    const entries = Object.fromEntries(Object.entries(entriesOf(files)).map(([n, d]) => [`my-adapter/${n}`, d]));
    const archive = await readAdapterArchive(
      bufferSource(await build({ 'README.md': 'hello', ...entries, '__MACOSX/my-adapter/._adapter_config.json': 'x' })),
    );
    expect(archive.config.r).toBe(16);
  });

  it('names the file that is missing', async () => {
    await expect(
      readAdapterArchive(bufferSource(await build({ 'adapter_model.safetensors': files.weights }))),
    ).rejects.toMatchObject({
      status: 400,
      code: 'invalid_adapter',
      param: 'input_file_id',
      message: expect.stringContaining('the archive lacks adapter_config.json'),
    });
    await expect(readAdapterArchive(bufferSource(await build({ 'adapter_config.json': '{}' })))).rejects.toThrow(
      /lacks adapter_model\.safetensors/,
    );
  });

  it('refuses a config that is not a JSON object', async () => {
    const bytes = await build({ 'adapter_config.json': '[1, 2]', 'adapter_model.safetensors': files.weights });
    await expect(readAdapterArchive(bufferSource(bytes))).rejects.toThrow(
      'adapter_config.json must hold a JSON object',
    );
    const broken = await build({ 'adapter_config.json': '{"r": ', 'adapter_model.safetensors': files.weights });
    await expect(readAdapterArchive(bufferSource(broken))).rejects.toThrow('adapter_config.json is not valid JSON');
  });

  it('refuses weights that are not safetensors', async () => {
    const notSafetensors = Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]), Buffer.alloc(100)]);
    const bytes = await build({ 'adapter_config.json': '{}', 'adapter_model.safetensors': notSafetensors });
    await expect(readAdapterArchive(bufferSource(bytes))).rejects.toThrow(/not a safetensors file \(header length/);
    const short = await build({ 'adapter_config.json': '{}', 'adapter_model.safetensors': 'abc' });
    await expect(readAdapterArchive(bufferSource(short))).rejects.toThrow(/too short to be a safetensors file/);
  });

  it('refuses two adapters in one archive', async () => {
    const bytes = await build({ ...entriesOf(files), 'other/adapter_config.json': '{}' });
    await expect(readAdapterArchive(bufferSource(bytes))).rejects.toThrow('more than one adapter_config.json');
  });
});

describe('recognising the archive', () => {
  it('refuses a file that is neither zip nor tar.gz, saying what to upload', async () => {
    await expect(readAdapterArchive(bufferSource(safetensors({})))).rejects.toThrow(
      /neither a zip nor a tar\.gz archive: upload adapter_config\.json and adapter_model\.safetensors/,
    );
    await expect(readAdapterArchive(bufferSource(Buffer.from('P')))).rejects.toThrow(/empty or too short/);
  });

  it('refuses a damaged archive with a 400, not a crash', async () => {
    const zip = await zipOf(entriesOf(files));
    await expect(readAdapterArchive(bufferSource(zip.subarray(0, zip.length - 30)))).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('not a readable zip archive'),
    });
    const tar = await tarGzOf(entriesOf(files));
    await expect(readAdapterArchive(bufferSource(tar.subarray(0, 200)))).rejects.toMatchObject({ status: 400 });
  });

  it('reads only the start of a large tar.gz weights file it needs (the header), not holding the tensors', async () => {
    const big = adapterFiles({ architecture: LLAMA_8B, layers: 32, modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] });
    expect(big.weights.length).toBeGreaterThan(20_000_000);
    const archive = await readAdapterArchive(bufferSource(await tarGzOf(entriesOf(big))));
    expect(Object.keys(archive.tensors)).toHaveLength(256);
  });

  it('reads a zip through range reads of its directory and the two entries, never as one stream', async () => {
    const big = adapterFiles({ architecture: LLAMA_8B, layers: 32, modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] });
    const zip = await zipOf(entriesOf(big));
    const source = bufferSource(zip);
    const ranges: number[][] = [];
    const counting = {
      ...source,
      read: (s: number, e: number) => {
        ranges.push([s, e]);
        return source.read(s, e);
      },
      stream: () => Promise.reject(new Error('not used for zip')),
    };
    const archive = await readAdapterArchive(counting);
    expect(Object.keys(archive.tensors)).toHaveLength(256);
    expect(ranges.length).toBeGreaterThan(2);
  });
});

describe('other entries of a tar.gz adapter', () => {
  it('reads through a large README.md (PEFT writes one) before or after the adapter files, not stalling', async () => {
    const readme = Buffer.alloc(256 * 1024, 0x61);
    for (const entries of [
      { 'README.md': readme, ...entriesOf(files) },
      { ...entriesOf(files), 'README.md': readme },
      {
        'adapter_config.json': JSON.stringify(files.config),
        'README.md': readme,
        'adapter_model.safetensors': files.weights,
      },
    ] as ArchiveEntries[]) {
      const archive = await readAdapterArchive(bufferSource(await tarGzOf(entries)));
      expect(archive.config.r).toBe(16);
      expect(Object.keys(archive.tensors)).toHaveLength(8);
    }
  });

  it('refuses ../ and absolute entry names with a 400 about input_file_id', async () => {
    for (const prefix of ['../../', '/tmp/', 'a/../../']) {
      const entries = Object.fromEntries(Object.entries(entriesOf(files)).map(([n, d]) => [`${prefix}${n}`, d]));
      await expect(readAdapterArchive(bufferSource(await tarGzOf(entries)))).rejects.toMatchObject({
        status: 400,
        param: 'input_file_id',
        message: expect.stringContaining('outside its folder'),
      });
    }
    expect(['README.md', 'my-adapter/adapter_config.json', './x', 'a..b'].some(isUnsafeArchivePath)).toBe(false);
    expect(['../x', '/x', 'a/../../x', 'C:/x', '..\\x'].every(isUnsafeArchivePath)).toBe(true);
  });

  it('refuses other entries past the cap (a decompression bomb) instead of reading for ever', async () => {
    const bomb = Buffer.alloc(MAX_OTHER_TAR_BYTES + 1024);
    const tar = await tarGzOf({ 'README.md': bomb, ...entriesOf(files) });
    await expect(readAdapterArchive(bufferSource(tar))).rejects.toMatchObject({
      status: 400,
      param: 'input_file_id',
      message: expect.stringContaining('MiB besides adapter_config.json'),
    });
  });
});
