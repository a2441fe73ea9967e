import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract } from 'tar-stream';
import * as yauzl from 'yauzl';
import { BadRequestError } from '../openai/errors';

/**
 * Reads a PEFT adapter archive (a zip like Groq's, or the .tar.gz SageMaker adapter components
 * need) without holding its tensors in memory: only adapter_config.json and the safetensors header
 * are read. A zip is read through its central directory with range reads; a tar.gz is streamed
 * (gzip cannot seek) and abandoned as soon as both files were seen.
 */

export const CONFIG_FILE = 'adapter_config.json';
export const WEIGHTS_FILE = 'adapter_model.safetensors';
/** adapter_config.json is a few hundred bytes; anything past 1 MiB is not one. */
const MAX_CONFIG_BYTES = 1024 * 1024;
/** The safetensors format caps its header at 100 MB; an adapter's (a few hundred tensors) is tens of KB. */
const MAX_HEADER_BYTES = 16 * 1024 * 1024;
/**
 * The largest adapter_model.safetensors taken, checked before its header is read: the largest
 * adapter the catalog's models take (Llama 3.3 70B, rank 64 on all seven modules, in F32) is 3.1
 * GiB, and test/lambda/fine-tuning/adapter-archive.test.ts checks every model of the config against
 * this cap. The layout check of parseSafetensorsHeader keeps what is taken to exactly the tensors
 * the header describes.
 */
export const MAX_WEIGHTS_BYTES = 3.5 * 1024 ** 3;
/**
 * Bytes per element of the safetensors dtypes (the `Dtype` enum of huggingface/safetensors,
 * safetensors/src/tensor.rs); sub-byte types (F4, F6_*) cannot be a LoRA weight here and are
 * refused as unknown.
 */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};
/**
 * What a tar.gz may hold besides the two adapter files (PEFT's README.md, a tokenizer, training
 * args), in all: they are read through and dropped, and past this a decompression bomb is refused
 * instead of read for ever.
 */
export const MAX_OTHER_TAR_BYTES = 64 * 1024 * 1024;

/** Where the archive's bytes come from: a buffer in tests and local mode, S3 range reads in AWS. */
export interface ArchiveSource {
  readonly size: number;
  /** Bytes [start, end). */
  read(start: number, end: number): Promise<Buffer>;
  /** All bytes from the start. */
  stream(): Promise<Readable>;
}

export function bufferSource(bytes: Buffer): ArchiveSource {
  return {
    size: bytes.length,
    read: async (start, end) => bytes.subarray(start, end),
    stream: async () => Readable.from([bytes]),
  };
}

export interface TensorInfo {
  dtype: string;
  shape: number[];
}

export interface AdapterArchive {
  format: 'zip' | 'tar.gz';
  /** adapter_config.json, parsed. */
  config: Record<string, unknown>;
  /** The safetensors header's tensors by name (without `__metadata__`). */
  tensors: Record<string, TensorInfo>;
}

export class InvalidAdapterError extends BadRequestError {
  constructor(message: string) {
    super(message, { param: 'input_file_id', code: 'invalid_adapter' });
  }
}

/** The adapter file a path names, if any: at the archive's root or in one top-level folder. */
export function adapterFileOf(path: string): typeof CONFIG_FILE | typeof WEIGHTS_FILE | undefined {
  const parts = path.replace(/^\.\//, '').split('/');
  if (parts[0] === '__MACOSX' || parts.length > 2) return undefined;
  const name = parts.at(-1);
  return name === CONFIG_FILE || name === WEIGHTS_FILE ? name : undefined;
}

/**
 * Reads a tar entry to its end (the next entry starts only after it), keeping the first
 * `limit(kept)` bytes: `limit` sees what is kept so far, so a length field can decide how much more
 * to keep.
 */
async function readKeepingPrefix(
  stream: AsyncIterable<Buffer>,
  limit: (kept: Buffer) => number,
): Promise<Buffer> {
  let kept = Buffer.alloc(0);
  for await (const chunk of stream) {
    if (kept.length < limit(kept)) kept = Buffer.concat([kept, chunk]);
  }
  return kept.subarray(0, limit(kept));
}

function headerLength(head: Buffer, size: number, maxBytes: number): number {
  if (size > maxBytes) {
    throw new InvalidAdapterError(
      `${WEIGHTS_FILE} is ${size} bytes; an adapter here is at most ${maxBytes} bytes`,
    );
  }
  const length = head.readBigUInt64LE(0);
  if (length > BigInt(MAX_HEADER_BYTES) || Number(length) > size - 8) {
    throw new InvalidAdapterError(
      `${WEIGHTS_FILE} is not a safetensors file (header length ${length} bytes)`,
    );
  }
  return Number(length);
}

/** Reads `limit` bytes from the start of a stream (fewer if it ends first), then stops reading it. */
async function readPrefix(stream: AsyncIterable<Buffer>, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    chunks.push(chunk);
    length += chunk.length;
    if (length >= limit) break;
  }
  return Buffer.concat(chunks).subarray(0, limit);
}

function parseConfig(bytes: Buffer): Record<string, unknown> {
  if (bytes.length > MAX_CONFIG_BYTES)
    throw new InvalidAdapterError(`${CONFIG_FILE} is larger than 1 MiB`);
  let config: unknown;
  try {
    config = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new InvalidAdapterError(`${CONFIG_FILE} is not valid JSON`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new InvalidAdapterError(`${CONFIG_FILE} must hold a JSON object`);
  }
  return config as Record<string, unknown>;
}

/** Reads the safetensors header from a stream of the file: 8 bytes little-endian length, then JSON. */
async function readSafetensorsHeader(
  open: () => Promise<AsyncIterable<Buffer>>,
  size: number,
  maxBytes: number,
) {
  const head = await readPrefix(await open(), 8);
  if (head.length < 8)
    throw new InvalidAdapterError(`${WEIGHTS_FILE} is too short to be a safetensors file`);
  const length = headerLength(head, size, maxBytes);
  const bytes = (await readPrefix(await open(), 8 + length)).subarray(8);
  return parseSafetensorsHeader(bytes, size - 8 - length);
}

/**
 * The tensors of a safetensors header, once its layout is the format's: each tensor's
 * `data_offsets` [BEGIN, END) hold exactly its shape × dtype bytes, the tensors tile the byte
 * buffer from 0 with no hole or overlap, and the last one ends where the file ends (`dataBytes`:
 * the file's size less the length field and the header). The format's README ("Format": offsets
 * relative to the byte buffer, END one past) and its reference reader (huggingface/safetensors
 * `Metadata::validate`: InvalidOffset, TensorInvalidInfo, MetadataIncompleteBuffer, "the last
 * offset must be the end of the file") refuse the same files; without it an archive of valid
 * tensors and 1 GiB of trailing zeros was registered and repackaged whole (issue 20 row 3).
 */
export function parseSafetensorsHeader(
  bytes: Buffer,
  dataBytes: number,
): Record<string, TensorInfo> {
  let header: unknown;
  try {
    header = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new InvalidAdapterError(
      `${WEIGHTS_FILE} is not a safetensors file (its header is not JSON)`,
    );
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new InvalidAdapterError(
      `${WEIGHTS_FILE} is not a safetensors file (its header is not an object)`,
    );
  }
  // Own properties only (Object.fromEntries below): a tensor named `__proto__` assigned with
  // `tensors[name] =` set the object's prototype instead, and went unchecked.
  const tensors: [string, TensorInfo][] = [];
  const extents: { name: string; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets } = (info ?? {}) as {
      dtype?: unknown;
      shape?: unknown;
      data_offsets?: unknown;
    };
    if (
      typeof dtype !== 'string' ||
      !Array.isArray(shape) ||
      !shape.every((d) => Number.isSafeInteger(d) && d >= 0)
    ) {
      throw new InvalidAdapterError(`${WEIGHTS_FILE}: tensor ${name} has no valid dtype and shape`);
    }
    const elementBytes = Object.hasOwn(DTYPE_BYTES, dtype) ? DTYPE_BYTES[dtype] : undefined;
    if (elementBytes === undefined)
      throw new InvalidAdapterError(`${WEIGHTS_FILE}: tensor ${name} has dtype ${dtype}`);
    const [begin, end] = Array.isArray(data_offsets) ? data_offsets : [];
    if (
      !Array.isArray(data_offsets) ||
      data_offsets.length !== 2 ||
      !Number.isSafeInteger(begin) ||
      !Number.isSafeInteger(end) ||
      begin < 0 ||
      end < begin
    ) {
      throw new InvalidAdapterError(`${WEIGHTS_FILE}: tensor ${name} has no valid data_offsets`);
    }
    const size = shape.reduce((product: number, d: number) => product * d, elementBytes);
    if (end - begin !== size) {
      throw new InvalidAdapterError(
        `${WEIGHTS_FILE}: tensor ${name} takes ${end - begin} bytes; its shape and dtype take ${size}`,
      );
    }
    tensors.push([name, { dtype, shape }]);
    extents.push({ name, begin, end });
  }
  extents.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const { name, begin, end } of extents) {
    if (begin !== covered) {
      throw new InvalidAdapterError(
        `${WEIGHTS_FILE}: tensor ${name} starts at byte ${begin} of the data, not at ${covered} (a hole or an overlap)`,
      );
    }
    covered = end;
  }
  if (covered !== dataBytes) {
    throw new InvalidAdapterError(
      `${WEIGHTS_FILE} holds ${dataBytes} bytes of data but its tensors take ${covered}: the file must end at its last tensor`,
    );
  }
  return Object.fromEntries(tensors);
}

class SourceReader extends yauzl.RandomAccessReader {
  constructor(private readonly source: ArchiveSource) {
    super();
  }
  _readStreamForRange(start: number, end: number): Readable {
    const stream = new Readable({ read() {} });
    this.source.read(start, end).then(
      (bytes) => {
        stream.push(bytes);
        stream.push(null);
      },
      (error: Error) => stream.destroy(error),
    );
    return stream;
  }
}

export function openZip(source: ArchiveSource): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.fromRandomAccessReader(
      new SourceReader(source),
      source.size,
      { lazyEntries: true, autoClose: false, validateEntrySizes: true },
      (error, zip) => (error || !zip ? reject(error) : resolve(zip)),
    ),
  );
}

async function readZip(source: ArchiveSource, maxWeightsBytes: number): Promise<AdapterArchive> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(source);
  } catch (error) {
    throw new InvalidAdapterError(
      `the file is not a readable zip archive (${(error as Error).message})`,
    );
  }
  const entries = new Map<string, yauzl.Entry>();
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      const file = adapterFileOf(entry.fileName);
      if (file && entries.has(file)) {
        reject(new InvalidAdapterError(`the archive holds more than one ${file}`));
        return;
      }
      if (file) entries.set(file, entry);
      zip.readEntry();
    });
    zip.on('end', resolve);
    zip.on('error', (error: Error) =>
      reject(new InvalidAdapterError(`the zip archive is damaged (${error.message})`)),
    );
    zip.readEntry();
  });
  const open = (entry: yauzl.Entry) => async () =>
    new Promise<Readable>((resolve, reject) =>
      zip.openReadStream(entry, (error, stream) =>
        error || !stream ? reject(error) : resolve(stream),
      ),
    );
  try {
    const configEntry = entries.get(CONFIG_FILE);
    const weightsEntry = entries.get(WEIGHTS_FILE);
    missingFiles(configEntry !== undefined, weightsEntry !== undefined);
    if (!configEntry || !weightsEntry) throw new Error('unreachable');
    if (configEntry.uncompressedSize > MAX_CONFIG_BYTES) {
      throw new InvalidAdapterError(`${CONFIG_FILE} is larger than 1 MiB`);
    }
    const config = parseConfig(await readPrefix(await open(configEntry)(), MAX_CONFIG_BYTES + 1));
    const tensors = await readSafetensorsHeader(
      open(weightsEntry),
      weightsEntry.uncompressedSize,
      maxWeightsBytes,
    );
    return { format: 'zip', config, tensors };
  } finally {
    zip.close();
  }
}

/** An archive path that would land outside the folder it is unpacked in: absolute, a drive, or a `..` part. */
export function isUnsafeArchivePath(path: string): boolean {
  const normalized = path.replace(/\\/g, '/');
  return (
    normalized.startsWith('/') ||
    /^[A-Za-z]:/.test(normalized) ||
    normalized.split('/').some((part) => part === '..')
  );
}

function missingFiles(hasConfig: boolean, hasWeights: boolean): void {
  const missing = [
    hasConfig ? undefined : CONFIG_FILE,
    hasWeights ? undefined : WEIGHTS_FILE,
  ].filter(Boolean);
  if (missing.length > 0) {
    throw new InvalidAdapterError(
      `the archive lacks ${missing.join(' and ')}: a PEFT adapter holds ${CONFIG_FILE} and ${WEIGHTS_FILE}`,
    );
  }
}

async function readTarGz(source: ArchiveSource, maxWeightsBytes: number): Promise<AdapterArchive> {
  const extract = tarExtract();
  const input = await source.stream();
  const gunzip = createGunzip();
  const failed = new Promise<never>((_, reject) => {
    const fail = (error: Error) =>
      reject(
        new InvalidAdapterError(`the file is not a readable tar.gz archive (${error.message})`),
      );
    input.on('error', fail);
    gunzip.on('error', fail);
    extract.on('error', fail);
  });
  failed.catch(() => undefined); // observed below; never an unhandled rejection
  input.pipe(gunzip).pipe(extract);
  const read = (async () => {
    let config: Record<string, unknown> | undefined;
    let tensors: Record<string, TensorInfo> | undefined;
    let otherBytes = 0;
    for await (const entry of extract) {
      if (isUnsafeArchivePath(entry.header.name)) {
        // As yauzl refuses such names in a zip: an adapter's files never point outside its folder.
        throw new InvalidAdapterError(
          `the archive holds an entry outside its folder (${entry.header.name.slice(0, 100)}): use plain relative names`,
        );
      }
      const file = entry.header.type === 'file' ? adapterFileOf(entry.header.name) : undefined;
      const bytes = entry as unknown as AsyncIterable<Buffer>;
      if (file === CONFIG_FILE) {
        if (config) throw new InvalidAdapterError(`the archive holds more than one ${CONFIG_FILE}`);
        config = parseConfig(await readKeepingPrefix(bytes, () => MAX_CONFIG_BYTES + 1));
      } else if (file === WEIGHTS_FILE) {
        if (tensors)
          throw new InvalidAdapterError(`the archive holds more than one ${WEIGHTS_FILE}`);
        // A tar entry streams once: the length and the header come from one pass over it.
        const size = entry.header.size ?? 0;
        const prefix = await readKeepingPrefix(bytes, (head) =>
          head.length < 8 ? 8 : 8 + headerLength(head, size, maxWeightsBytes),
        );
        if (prefix.length < 8)
          throw new InvalidAdapterError(`${WEIGHTS_FILE} is too short to be a safetensors file`);
        tensors = parseSafetensorsHeader(prefix.subarray(8), size - prefix.length);
      } else {
        // Any other entry (a README.md, a folder, a link) is read through and dropped: tar-stream
        // yields the next entry only once this one was consumed, so an unread one would stall the
        // archive for ever.
        for await (const chunk of bytes) {
          otherBytes += chunk.length;
          if (otherBytes > MAX_OTHER_TAR_BYTES) {
            throw new InvalidAdapterError(
              `the archive holds more than ${MAX_OTHER_TAR_BYTES / (1024 * 1024)} MiB besides ${CONFIG_FILE} and ${WEIGHTS_FILE}`,
            );
          }
        }
      }
      // No early exit once both are found: reading to the end checks gzip's CRC (a cut upload fails
      // here) and finds a second adapter hidden further in.
    }
    missingFiles(config !== undefined, tensors !== undefined);
    return { format: 'tar.gz' as const, config: config ?? {}, tensors: tensors ?? {} };
  })();
  try {
    return await Promise.race([read, failed]);
  } finally {
    input.unpipe();
    input.destroy();
    gunzip.destroy();
    extract.destroy();
  }
}

/**
 * Reads an adapter archive, recognising zip and tar.gz by their first bytes. `maxWeightsBytes` caps
 * the safetensors file (default {@link MAX_WEIGHTS_BYTES}): an uploaded adapter is held to the
 * files limit, since trained weights hardly compress and weights far larger than the upload are a
 * decompression bomb of zeros.
 */
export async function readAdapterArchive(
  source: ArchiveSource,
  options: { maxWeightsBytes?: number } = {},
): Promise<AdapterArchive> {
  const maxWeightsBytes = Math.min(options.maxWeightsBytes ?? MAX_WEIGHTS_BYTES, MAX_WEIGHTS_BYTES);
  if (source.size < 4)
    throw new InvalidAdapterError('the file is empty or too short to be an adapter archive');
  const magic = await source.read(0, 4);
  if (magic.readUInt32LE(0) === 0x04034b50) return readZip(source, maxWeightsBytes); // "PK\3\4"
  if (magic[0] === 0x1f && magic[1] === 0x8b) return readTarGz(source, maxWeightsBytes);
  throw new InvalidAdapterError(
    `the file is neither a zip nor a tar.gz archive: upload ${CONFIG_FILE} and ${WEIGHTS_FILE} as a zip (like Groq) or a .tar.gz`,
  );
}
