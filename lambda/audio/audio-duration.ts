import { parseBuffer } from 'music-metadata';
import { BadRequestError } from '../openai/errors';
import { flacFrameSeconds } from './flac-duration';
import { mp4SampleSeconds } from './mp4-duration';
import { oggPacketSeconds } from './ogg-duration';
import { ACCEPTED_FORMATS, unreadableAudio as unreadable } from './unreadable-audio';
import { webmBlockSeconds } from './webm-duration';

export { ACCEPTED_FORMATS };

/**
 * The real duration of an uploaded audio file, never the client's word for it: what a decoder
 * plays, counted from the data without decoding it. The format is told from the file's signature
 * (WAV, FLAC, Ogg, MP4/M4A, WebM), else by music-metadata (7.14, the last CommonJS release: jest
 * and the Lambda bundles load it without an ESM build step), from the bytes, not the file name.
 * The library's `format.duration` is never used: for every format it is some header's word.
 *
 * Each format's measure (a file whose structure cannot be walked is a 400, never its header):
 * - WAV: the data actually present, in frames of the codec's layout (a `data` chunk that claims
 *   more than the file holds is cut to the file; the byte rate and a `fact` chunk are ignored);
 *   a codec whose length the data does not tell (MPEG or GSM inside WAV) is refused;
 * - MP3 (MPEG audio): every frame is walked (`mpegFrameSeconds`), so a Xing/VBRI header that claims
 *   fewer or more frames than the file has is ignored. music-metadata alone is not enough: with
 *   `duration: true` it still believes a Xing header that gives the stream's size, and it counts a
 *   file whose first three frames share a bitrate as constant-bitrate (its size / the first frame's);
 * - FLAC: every frame header (sync code and CRC-8) is counted by its block size, STREAMINFO's
 *   total ignored (`flac-duration.ts`);
 * - Ogg: every Opus packet by its TOC byte, every Vorbis packet by its mode's block size, granule
 *   positions ignored (`ogg-duration.ts`);
 * - MP4/M4A: every sample of the audio track whose bytes are in the file, as one AAC frame (or an
 *   Opus packet's TOC), `mvhd`/`mdhd`/`stts` ignored; fragmented files by their `trun`s
 *   (`mp4-duration.ts`);
 * - WebM/Matroska: every frame of every block (Opus, Vorbis, PCM), Duration, DefaultDuration and
 *   timestamps ignored (`webm-duration.ts`).
 * What each walker still takes on trust is said at its top and in docs/speech-to-text.md.
 */

/** Groq's accepted formats, by the container music-metadata names. */
const CONTAINERS: Record<string, string> = {
  WAVE: 'wav',
  MPEG: 'mp3',
  FLAC: 'flac',
  Ogg: 'ogg',
  'MPEG-4': 'mp4',
  'M4A/mp42': 'm4a',
  'M4A/isom': 'm4a',
  EBML: 'webm',
  'EBML/webm': 'webm',
  'EBML/matroska': 'webm',
};

export interface MeasuredAudio {
  /** `wav`, `mp3`, `flac`, `ogg`, `mp4`, `m4a`, `webm`. */
  format: string;
  /** Seconds of audio, as read from the data (see above). */
  seconds: number;
}

function containerFormat(container: string | undefined): string | undefined {
  if (container === undefined) return undefined;
  const exact = CONTAINERS[container];
  if (exact) return exact;
  if (container.startsWith('M4A') || container.startsWith('mp4') || container.startsWith('MPEG-4'))
    return 'm4a';
  if (container.startsWith('EBML')) return 'webm';
  return undefined;
}

/**
 * Each format's measure of the audio its data holds (undefined or 0: none found). The library's
 * `format.duration` is never used: for every format it is some header's word.
 */
const MEASURES: Record<string, (bytes: Uint8Array) => number | undefined> = {
  wav: (bytes) => wavDataSeconds(bytes),
  mp3: (bytes) => mpegFrameSeconds(bytes),
  flac: flacFrameSeconds,
  ogg: oggPacketSeconds,
  mp4: mp4SampleSeconds,
  m4a: mp4SampleSeconds,
  webm: webmBlockSeconds,
};

/**
 * The format by the file's own signature, for the containers whose walkers take the file from its
 * first byte: the library's parse is skipped for them, since it would read the same structure
 * again and refuse a file cut short that a decoder still plays (its end-of-stream error).
 */
function signatureFormat(bytes: Uint8Array): string | undefined {
  const text = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (text(0) === 'RIFF' && text(8) === 'WAVE') return 'wav';
  if (text(0) === 'fLaC') return 'flac';
  if (text(0) === 'OggS') return 'ogg';
  if (text(0) === '\x1a\x45\xdf\xa3') return 'webm';
  // An MP4 names its brand first: Apple's audio brands are m4a, the rest mp4.
  if (text(4) === 'ftyp') return ['M4A ', 'M4B ', 'M4P '].includes(text(8)) ? 'm4a' : 'mp4';
  return undefined;
}

/** The format told by music-metadata, for files without a signature at their start (MP3 mostly). */
async function parsedFormat(bytes: Uint8Array): Promise<string> {
  let metadata: Awaited<ReturnType<typeof parseBuffer>>;
  try {
    metadata = await parseBuffer(
      bytes,
      { size: bytes.byteLength },
      { skipCovers: true, skipPostHeaders: true },
    );
  } catch (error) {
    throw unreadable(error instanceof Error ? error.message : 'unknown format');
  }
  const format = containerFormat(metadata.format.container);
  if (!format) throw unreadable(`format ${metadata.format.container ?? 'unknown'}`);
  return format;
}

/**
 * The format's measure of the file. A walker's own slip on a structure it did not expect (a field
 * read past the end of a box) is still a 400 about the file, never a 5xx.
 */
function measured(format: string, bytes: Uint8Array): number | undefined {
  try {
    return MEASURES[format]?.(bytes);
  } catch (error) {
    if (error instanceof BadRequestError) throw error;
    throw unreadable(`its ${format} structure could not be walked`);
  }
}

/** The file's format and real duration, or a 400 for a file that is not audio in an accepted format. */
export async function measureAudio(bytes: Uint8Array): Promise<MeasuredAudio> {
  if (bytes.byteLength === 0) throw unreadable('it is empty');
  const format = signatureFormat(bytes) ?? (await parsedFormat(bytes));
  const seconds = measured(format, bytes);
  if (seconds === undefined || !Number.isFinite(seconds) || seconds <= 0)
    throw unreadable('it holds no audio, or its length cannot be told');
  return { format, seconds };
}

/** The `fmt ` chunk's fields that decide how many sample frames a `data` chunk holds. */
export interface WavFormat {
  formatTag: number;
  channels: number;
  sampleRate: number;
  blockAlign: number;
  bitsPerSample: number;
}

const WAVE_FORMAT = {
  PCM: 1,
  MS_ADPCM: 2,
  FLOAT: 3,
  ALAW: 6,
  MULAW: 7,
  IMA_ADPCM: 0x11,
  EXTENSIBLE: 0xfffe,
} as const;

/**
 * Sample frames per block of data bytes, as a decoder (libsndfile) derives them from the codec
 * and the block layout, never from the declared byte rate or a `fact` chunk; undefined for a
 * codec whose length only its headers tell (MPEG or GSM inside WAV).
 */
function framesPerBlock(format: WavFormat): { bytes: number; frames: number } | undefined {
  const { formatTag, channels, blockAlign, bitsPerSample } = format;
  switch (formatTag) {
    case WAVE_FORMAT.PCM:
    case WAVE_FORMAT.FLOAT:
    case WAVE_FORMAT.ALAW:
    case WAVE_FORMAT.MULAW:
      return { bytes: channels * Math.ceil(bitsPerSample / 8), frames: 1 };
    // A block is a header per channel (4 bytes IMA, 7 MS) and then 4-bit samples.
    case WAVE_FORMAT.IMA_ADPCM:
      return { bytes: blockAlign, frames: ((blockAlign - 4 * channels) * 2) / channels + 1 };
    case WAVE_FORMAT.MS_ADPCM:
      return { bytes: blockAlign, frames: ((blockAlign - 7 * channels) * 2) / channels + 2 };
    default:
      return undefined;
  }
}

/** The `fmt ` chunk whose body (`size` bytes, at least 16) starts at `body`. */
export function wavFormatOf(view: DataView, body: number, size: number): WavFormat {
  let formatTag = view.getUint16(body, true);
  // WAVE_FORMAT_EXTENSIBLE names its codec in the first two bytes of its SubFormat GUID.
  if (formatTag === WAVE_FORMAT.EXTENSIBLE)
    formatTag = size >= 40 ? view.getUint16(body + 24, true) : WAVE_FORMAT.PCM;
  return {
    formatTag,
    channels: view.getUint16(body + 2, true),
    sampleRate: view.getUint32(body + 4, true),
    blockAlign: view.getUint16(body + 12, true),
    bitsPerSample: view.getUint16(body + 14, true),
  };
}

/**
 * Seconds of audio in a WAV file's `data` chunk, counting only the bytes present and deriving the
 * frames from the codec's layout: what a decoder plays, whatever the declared byte rate or a
 * `fact` chunk say (both are the client's word, and billing by them let an hour pass as 10 s).
 * Undefined for a file that is not RIFF/WAVE; a 400 for a WAV without `fmt `/`data` or in a codec
 * whose length its data does not tell.
 */
export function wavDataSeconds(bytes: Uint8Array): number | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (bytes.byteLength < 12 || text(0) !== 'RIFF' || text(8) !== 'WAVE') return undefined;
  let format: WavFormat | undefined;
  let dataBytes: number | undefined;
  // Both chunks are looked for wherever they are: a `data` before `fmt ` must not fall back to
  // the library's reading (which believes `fact`).
  for (let at = 12; at + 8 <= bytes.byteLength; ) {
    const id = text(at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (id === 'fmt ' && format === undefined && body + 16 <= bytes.byteLength)
      format = wavFormatOf(view, body, Math.min(size, bytes.byteLength - body));
    if (id === 'data' && dataBytes === undefined)
      dataBytes = Math.min(size, bytes.byteLength - body);
    // Chunks are padded to an even size.
    at = body + size + (size % 2);
  }
  if (!format || dataBytes === undefined)
    throw unreadable("the WAV file has no 'fmt ' or 'data' chunk");
  const block = wavBlockOf(format);
  return (dataBytes / block.bytes) * block.seconds;
}

/** How a WAV's `data` plays: `bytes` of data per block, each `seconds` long. */
export interface WavBlock {
  bytes: number;
  seconds: number;
}

/**
 * The blocks of sample frames a WAV's `data` plays in, from the codec's layout and the sample
 * rate, never the declared byte rate: what billing measures (`wavDataSeconds`) and what cutting
 * a file into pieces times them by. A 400 for a codec whose length its data does not tell or a
 * header that cannot be played.
 */
export function wavBlockOf(format: WavFormat): WavBlock {
  const block = framesPerBlock(format);
  if (!block) {
    const tag = `0x${format.formatTag.toString(16).padStart(4, '0')}`;
    throw unreadable(`WAV codec ${tag}: send PCM, A-law, mu-law or ADPCM WAV, or the audio itself`);
  }
  if (!format.sampleRate || !format.channels || block.bytes <= 0 || block.frames <= 0)
    throw unreadable('its WAV format header is invalid');
  return { bytes: block.bytes, seconds: block.frames / format.sampleRate };
}

/** kbit/s by bitrate index: MPEG-1 layers I, II, III, then MPEG-2/2.5 layer I and layers II/III. */
const BITRATES: Record<string, number[]> = {
  '1-1': [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
  '1-2': [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
  '1-3': [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  '2-1': [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
  '2-2': [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
};
const SAMPLE_RATES: Record<number, number[]> = {
  1: [44_100, 48_000, 32_000],
  2: [22_050, 24_000, 16_000],
  2.5: [11_025, 12_000, 8_000],
};

/** One MPEG audio frame header at `at`: its length in bytes and its seconds, or undefined. */
function mpegFrame(bytes: Uint8Array, at: number): { length: number; seconds: number } | undefined {
  const b1 = bytes[at + 1] ?? 0;
  const b2 = bytes[at + 2] ?? 0;
  if (bytes[at] !== 0xff || (b1 & 0xe0) !== 0xe0) return undefined;
  const version = [2.5, 0, 2, 1][(b1 >> 3) & 3] as number;
  const layer = [0, 3, 2, 1][(b1 >> 1) & 3] as number;
  if (version === 0 || layer === 0) return undefined;
  const table = version === 1 ? `1-${layer}` : layer === 1 ? '2-1' : '2-2';
  const kbps = BITRATES[table]?.[b2 >> 4];
  const rate = SAMPLE_RATES[version]?.[(b2 >> 2) & 3];
  if (!kbps || !rate) return undefined; // free-format or reserved values
  const padding = (b2 >> 1) & 1;
  const samples = layer === 1 ? 384 : layer === 3 && version !== 1 ? 576 : 1152;
  const length =
    layer === 1
      ? (Math.floor((12 * kbps * 1000) / rate) + padding) * 4
      : Math.floor(((samples / 8) * kbps * 1000) / rate) + padding;
  return { length, seconds: samples / rate };
}

/** One MPEG audio frame of a stream: where it starts, its length in bytes and its seconds. */
export interface MpegFrame {
  offset: number;
  length: number;
  seconds: number;
}

/**
 * The frames of an MPEG audio stream from its first frame header to its end (an ID3v2 tag before
 * it skipped), resynchronising byte by byte over anything between frames: what a decoder plays,
 * whatever an Xing, Info or VBRI header declares.
 */
export function* mpegFrames(bytes: Uint8Array): Generator<MpegFrame> {
  let at = 0;
  if (bytes[0] === 0x49 && bytes[1] === 0x44 && bytes[2] === 0x33 && bytes.byteLength >= 10) {
    // ID3v2: a 10-byte header whose size is four 7-bit bytes (plus a 10-byte footer if flagged).
    const size =
      ((bytes[6] ?? 0) << 21) | ((bytes[7] ?? 0) << 14) | ((bytes[8] ?? 0) << 7) | (bytes[9] ?? 0);
    at = 10 + size + (((bytes[5] ?? 0) & 0x10) !== 0 ? 10 : 0);
  }
  while (at + 4 <= bytes.byteLength) {
    const frame = mpegFrame(bytes, at);
    // A frame cut short by the end of the file still counts: decoders play what is there.
    if (frame) {
      yield { offset: at, length: frame.length, seconds: frame.seconds };
      at += frame.length;
    } else {
      at += 1;
    }
  }
}

/** Seconds of an MPEG audio stream counted frame by frame ({@link mpegFrames}); 0 when no frame is found. */
export function mpegFrameSeconds(bytes: Uint8Array): number {
  let seconds = 0;
  for (const frame of mpegFrames(bytes)) seconds += frame.seconds;
  return seconds;
}
