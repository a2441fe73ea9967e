import {
  bufferSource,
  isUnsafeArchivePath,
  MAX_OTHER_TAR_BYTES,
  MAX_WEIGHTS_BYTES,
  readAdapterArchive,
} from '../../../lambda/fine-tuning/adapter-archive';
import { moduleDimensions } from '../../../lambda/fine-tuning/adapter-checks';
import { loadConfig } from '../../../lib/config/load';
import {
  type ArchiveEntries,
  adapterFiles,
  entriesOf,
  safetensors,
  tarGzOf,
  zipOf,
} from '../../support/adapters';

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
    expect(
      archive.tensors['base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight'],
    ).toEqual({
      dtype: 'BF16',
      shape: [1024, 16],
    });
  });

  it('accepts the two files in one top-level folder and ignores other files', async () => {
    const entries = Object.fromEntries(
      Object.entries(entriesOf(files)).map(([n, d]) => [`my-adapter/${n}`, d]),
    );
    const archive = await readAdapterArchive(
      bufferSource(
        await build({
          'README.md': 'hello',
          ...entries,
          '__MACOSX/my-adapter/._adapter_config.json': 'x',
        }),
      ),
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
    await expect(
      readAdapterArchive(bufferSource(await build({ 'adapter_config.json': '{}' }))),
    ).rejects.toThrow(/lacks adapter_model\.safetensors/);
  });

  it('refuses a config that is not a JSON object', async () => {
    const bytes = await build({
      'adapter_config.json': '[1, 2]',
      'adapter_model.safetensors': files.weights,
    });
    await expect(readAdapterArchive(bufferSource(bytes))).rejects.toThrow(
      'adapter_config.json must hold a JSON object',
    );
    const broken = await build({
      'adapter_config.json': '{"r": ',
      'adapter_model.safetensors': files.weights,
    });
    await expect(readAdapterArchive(bufferSource(broken))).rejects.toThrow(
      'adapter_config.json is not valid JSON',
    );
  });

  it('refuses weights that are not safetensors', async () => {
    const notSafetensors = Buffer.concat([
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]),
      Buffer.alloc(100),
    ]);
    const bytes = await build({
      'adapter_config.json': '{}',
      'adapter_model.safetensors': notSafetensors,
    });
    await expect(readAdapterArchive(bufferSource(bytes))).rejects.toThrow(
      /not a safetensors file \(header length/,
    );
    const short = await build({ 'adapter_config.json': '{}', 'adapter_model.safetensors': 'abc' });
    await expect(readAdapterArchive(bufferSource(short))).rejects.toThrow(
      /too short to be a safetensors file/,
    );
  });

  it('refuses two adapters in one archive', async () => {
    const bytes = await build({ ...entriesOf(files), 'other/adapter_config.json': '{}' });
    await expect(readAdapterArchive(bufferSource(bytes))).rejects.toThrow(
      'more than one adapter_config.json',
    );
  });
});

describe('recognising the archive', () => {
  it('refuses a file that is neither zip nor tar.gz, saying what to upload', async () => {
    await expect(readAdapterArchive(bufferSource(safetensors({})))).rejects.toThrow(
      /neither a zip nor a tar\.gz archive: upload adapter_config\.json and adapter_model\.safetensors/,
    );
    await expect(readAdapterArchive(bufferSource(Buffer.from('P')))).rejects.toThrow(
      /empty or too short/,
    );
  });

  it('refuses a damaged archive with a 400, not a crash', async () => {
    const zip = await zipOf(entriesOf(files));
    await expect(
      readAdapterArchive(bufferSource(zip.subarray(0, zip.length - 30))),
    ).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('not a readable zip archive'),
    });
    const tar = await tarGzOf(entriesOf(files));
    await expect(readAdapterArchive(bufferSource(tar.subarray(0, 200)))).rejects.toMatchObject({
      status: 400,
    });
  });

  it('reads only the start of a large tar.gz weights file it needs (the header), not holding the tensors', async () => {
    const big = adapterFiles({
      architecture: LLAMA_8B,
      layers: 32,
      modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
    });
    expect(big.weights.length).toBeGreaterThan(20_000_000);
    const archive = await readAdapterArchive(bufferSource(await tarGzOf(entriesOf(big))));
    expect(Object.keys(archive.tensors)).toHaveLength(256);
  });

  it('reads a zip through range reads of its directory and the two entries, never as one stream', async () => {
    const big = adapterFiles({
      architecture: LLAMA_8B,
      layers: 32,
      modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
    });
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
      const entries = Object.fromEntries(
        Object.entries(entriesOf(files)).map(([n, d]) => [`${prefix}${n}`, d]),
      );
      await expect(readAdapterArchive(bufferSource(await tarGzOf(entries)))).rejects.toMatchObject({
        status: 400,
        param: 'input_file_id',
        message: expect.stringContaining('outside its folder'),
      });
    }
    expect(
      ['README.md', 'my-adapter/adapter_config.json', './x', 'a..b'].some(isUnsafeArchivePath),
    ).toBe(false);
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

/** A safetensors file must end at its last tensor's data and stay under a size cap. */
describe.each([
  ['zip', zipOf],
  ['tar.gz', tarGzOf],
] as const)('the layout of adapter_model.safetensors in a %s', (_format, build) => {
  const withWeights = (weights: Buffer) =>
    build({ ...entriesOf(files), 'adapter_model.safetensors': weights });
  const refusal = (text: string) => ({
    status: 400,
    param: 'input_file_id',
    message: expect.stringContaining(text),
  });

  it('refuses data past the last tensor (valid tensors + 1 MiB of zeros)', async () => {
    const padded = Buffer.concat([files.weights, Buffer.alloc(1024 * 1024)]);
    await expect(readAdapterArchive(bufferSource(await withWeights(padded)))).rejects.toMatchObject(
      refusal('the file must end at its last tensor'),
    );
  });

  it('refuses a file cut before its last tensor ends', async () => {
    const cut = files.weights.subarray(0, files.weights.length - 2);
    await expect(readAdapterArchive(bufferSource(await withWeights(cut)))).rejects.toMatchObject(
      refusal('the file must end at its last tensor'),
    );
  });

  it('refuses offsets that do not hold the shape, or leave a hole', async () => {
    const length = Number(files.weights.readBigUInt64LE(0));
    const header = JSON.parse(files.weights.subarray(8, 8 + length).toString()) as Record<
      string,
      { data_offsets?: number[] }
    >;
    const rewrite = (patch: (h: typeof header) => void) => {
      const copy = structuredClone(header);
      patch(copy);
      const json = Buffer.from(JSON.stringify(copy));
      const prefix = Buffer.alloc(8);
      prefix.writeBigUInt64LE(BigInt(json.length));
      return Buffer.concat([prefix, json, files.weights.subarray(8 + length)]);
    };
    const [first] = Object.keys(header).filter((k) => k !== '__metadata__');
    const short = rewrite((h) => {
      const t = h[first as string] as { data_offsets: number[] };
      t.data_offsets = [t.data_offsets[0] as number, (t.data_offsets[1] as number) - 2];
    });
    await expect(readAdapterArchive(bufferSource(await withWeights(short)))).rejects.toMatchObject(
      refusal('its shape and dtype take'),
    );
    // Two tensors naming the same bytes: an overlap, and so the buffer's end is never reached.
    const [, second] = Object.keys(header).filter((k) => k !== '__metadata__');
    const overlap = rewrite((h) => {
      (h[second as string] as { data_offsets: number[] }).data_offsets = [
        ...(h[first as string] as { data_offsets: number[] }).data_offsets,
      ];
    });
    await expect(
      readAdapterArchive(bufferSource(await withWeights(overlap))),
    ).rejects.toMatchObject(refusal('a hole or an overlap'));
  });

  it('keeps a tensor named __proto__ as a tensor (checked and refused), not as the prototype', async () => {
    const named = safetensors(Object.fromEntries([['__proto__', ['BF16', [2, 2]]]]));
    const archive = await readAdapterArchive(bufferSource(await withWeights(named)));
    expect(Object.keys(archive.tensors)).toEqual(['__proto__']);
  });
});

describe('the size cap of adapter_model.safetensors', () => {
  it('is above the largest adapter any model of the config takes (largest rank, all modules, F32)', () => {
    const config = loadConfig({ env: 'dev' });
    const rank = Math.max(...config.fineTuning.lora.ranks);
    for (const [id, model] of Object.entries(config.models)) {
      if (!model.architecture) continue;
      const dims = moduleDimensions(model.architecture);
      const perLayer = config.fineTuning.lora.targetModules.reduce((sum, m) => {
        const [inFeatures, outFeatures] = dims[m] ?? [0, 0];
        return sum + rank * (inFeatures + outFeatures) * 4;
      }, 0);
      expect({ id, fits: perLayer * model.architecture.layers < MAX_WEIGHTS_BYTES }).toEqual({
        id,
        fits: true,
      });
    }
  });

  it('holds an uploaded adapter to the cap its caller gives (twice the files limit for uploads)', async () => {
    for (const build of [zipOf, tarGzOf]) {
      const archive = await build(entriesOf(files));
      await expect(
        readAdapterArchive(bufferSource(archive), { maxWeightsBytes: 1_000 }),
      ).rejects.toMatchObject({
        status: 400,
        message: expect.stringContaining('an adapter here is at most 1000 bytes'),
      });
      await expect(
        readAdapterArchive(bufferSource(archive), { maxWeightsBytes: files.weights.length }),
      ).resolves.toBeDefined();
    }
  });

  it('refuses a zip entry declaring more before reading its header', async () => {
    const zip = await zipOf(entriesOf(files));
    // The central directory's uncompressed size (offset 24 of each 46-byte record) of the weights
    // entry.
    const name = Buffer.from('adapter_model.safetensors');
    let at = zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    while (at >= 0 && !zip.subarray(at + 46, at + 46 + name.length).equals(name)) {
      at = zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]), at + 4);
    }
    zip.writeUInt32LE(0xffff_fff0, at + 24);
    await expect(readAdapterArchive(bufferSource(zip))).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('an adapter here is at most'),
    });
  });
});
