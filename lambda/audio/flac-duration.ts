import { unreadableAudio } from './unreadable-audio';

/**
 * Seconds of a FLAC stream counted from its frames (RFC 9639), never from STREAMINFO's total
 * samples (0 means "unknown" there, legitimately, and any other value is the writer's word).
 *
 * Every frame header in the data is found by its sync code and checked by its CRC-8; its block
 * size is its samples. A decoder plays every frame it finds this way (libFLAC and FFmpeg both
 * resynchronise on the sync code), so counting them bills what is played. A false sync (the sync
 * code and a valid CRC-8 by chance inside a frame's audio) is dropped when a CRC-16 proves the
 * frame around it ends after it; one that is not proved so is billed (about one in 10^8 bytes).
 * Frame and sample numbers are ignored: a writer sets them, and decoders do not stop on them.
 */

const SYNC_FIXED = 0xf8;
const SAMPLE_RATES = [
  0, 88_200, 176_400, 192_000, 8_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000, 96_000,
];
/** At most this many frames wait for a CRC-16 proof at once; an older one stays billed. */
const MAX_UNPROVED = 8;

/** What a frame header needs from STREAMINFO when it says "as in STREAMINFO". */
interface StreamInfo {
  sampleRate: number;
}

interface FrameHeader {
  blockSize: number;
  sampleRate: number;
}

const CRC8 = crcTable(0x07, 8);
const CRC16 = crcTable(0x8005, 16);

/** A most-significant-bit-first CRC table, as FLAC's CRC-8 and CRC-16 are (init 0, no final xor). */
function crcTable(polynomial: number, width: 8 | 16): Uint16Array {
  const top = 1 << (width - 1);
  const mask = (1 << width) - 1;
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << (width - 8);
    for (let bit = 0; bit < 8; bit++) crc = crc & top ? ((crc << 1) ^ polynomial) & mask : crc << 1;
    table[byte] = crc & mask;
  }
  return table;
}

/** The first byte of the frames and STREAMINFO's sample rate; a 400 for a file that is not FLAC. */
function flacMetadata(bytes: Uint8Array): { framesAt: number; info: StreamInfo } {
  let at = 0;
  // An ID3v2 tag before `fLaC` is skipped by libFLAC: a 10-byte header, a syncsafe size.
  if (bytes[0] === 0x49 && bytes[1] === 0x44 && bytes[2] === 0x33 && bytes.byteLength >= 10) {
    at = 10 + (((bytes[6] ?? 0) << 21) | ((bytes[7] ?? 0) << 14) | ((bytes[8] ?? 0) << 7));
    at += bytes[9] ?? 0;
  }
  const magic = String.fromCharCode(...bytes.subarray(at, at + 4));
  if (magic !== 'fLaC') throw unreadableAudio('no FLAC stream marker');
  at += 4;
  let info: StreamInfo | undefined;
  for (let last = false; !last; ) {
    if (at + 4 > bytes.byteLength) throw unreadableAudio('the FLAC metadata is cut short');
    const type = (bytes[at] ?? 0) & 0x7f;
    last = ((bytes[at] ?? 0) & 0x80) !== 0;
    const length =
      ((bytes[at + 1] ?? 0) << 16) | ((bytes[at + 2] ?? 0) << 8) | (bytes[at + 3] ?? 0);
    if (type === 0 && length >= 34 && at + 4 + 34 <= bytes.byteLength) {
      const rate = at + 4 + 10;
      const sampleRate =
        ((bytes[rate] ?? 0) << 12) | ((bytes[rate + 1] ?? 0) << 4) | ((bytes[rate + 2] ?? 0) >> 4);
      info = { sampleRate };
    }
    at += 4 + length;
  }
  if (!info) throw unreadableAudio('the FLAC stream has no STREAMINFO block');
  return { framesAt: at, info };
}

/** The length of a UTF-8-style coded frame or sample number starting with `first`, or 0. */
function codedNumberLength(first: number): number {
  if (first < 0x80) return 1;
  for (let length = 2; length <= 7; length++) {
    const marker = (0xff << (8 - length)) & 0xff;
    if ((first & (marker | (1 << (7 - length)))) === marker) return length;
  }
  return 0;
}

/** The frame header at `at` (sync code, valid fields and CRC-8), or undefined. */
function frameHeader(bytes: Uint8Array, at: number, info: StreamInfo): FrameHeader | undefined {
  const b2 = bytes[at + 2] ?? 0;
  const b3 = bytes[at + 3] ?? 0;
  const sizeCode = b2 >> 4;
  const rateCode = b2 & 0x0f;
  // Reserved codes: block size 0, sample rate 15, channels 11-15, sample size 3, the reserved bit.
  if (sizeCode === 0 || rateCode === 15 || b3 >> 4 > 10 || ((b3 >> 1) & 7) === 3 || b3 & 1)
    return undefined;
  const numberLength = codedNumberLength(bytes[at + 4] ?? 0xff);
  if (numberLength === 0) return undefined;
  let next = at + 4 + numberLength;
  for (let i = 1; i < numberLength; i++) if (((bytes[at + 4 + i] ?? 0) & 0xc0) !== 0x80) return;
  let blockSize =
    sizeCode === 1 ? 192 : sizeCode <= 5 ? 576 << (sizeCode - 2) : 256 << (sizeCode - 8);
  if (sizeCode === 6 || sizeCode === 7) {
    const wide = sizeCode === 7;
    blockSize =
      (wide ? ((bytes[next] ?? 0) << 8) | (bytes[next + 1] ?? 0) : (bytes[next] ?? 0)) + 1;
    next += wide ? 2 : 1;
  }
  let sampleRate = rateCode === 0 ? info.sampleRate : (SAMPLE_RATES[rateCode] ?? 0);
  if (rateCode >= 12) {
    const wide = rateCode !== 12;
    const value = wide ? ((bytes[next] ?? 0) << 8) | (bytes[next + 1] ?? 0) : (bytes[next] ?? 0);
    sampleRate = rateCode === 12 ? value * 1000 : rateCode === 13 ? value : value * 10;
    next += wide ? 2 : 1;
  }
  if (next >= bytes.byteLength || sampleRate === 0) return undefined;
  let crc = 0;
  for (let i = at; i < next; i++) crc = CRC8[crc ^ (bytes[i] ?? 0)] ?? 0;
  if (crc !== bytes[next]) return undefined;
  return { blockSize, sampleRate };
}

/** Samples billed, by sample rate (whole numbers, so no rounding creeps into a second). */
class SampleCount {
  private readonly byRate = new Map<number, number>();
  frames = 0;

  add(frame: FrameHeader, sign: 1 | -1): void {
    this.byRate.set(
      frame.sampleRate,
      (this.byRate.get(frame.sampleRate) ?? 0) + sign * frame.blockSize,
    );
    this.frames += sign;
  }

  seconds(): number {
    let seconds = 0;
    for (const [rate, samples] of this.byRate) seconds += samples / rate;
    return seconds;
  }
}

/** FLAC's CRC-16 of `bytes[from, to)` continued from `crc`. */
function crc16(bytes: Uint8Array, from: number, to: number, crc: number): number {
  let value = crc;
  for (let i = from; i < to; i++)
    value = ((value << 8) & 0xffff) ^ (CRC16[(value >> 8) ^ (bytes[i] as number)] as number);
  return value;
}

/** A frame billed but not yet proved by a CRC-16: its CRC-16 from its header up to `upTo`. */
interface UnprovedFrame {
  header: FrameHeader;
  offset: number;
  crc: number;
  upTo: number;
}

/** Seconds of audio in a FLAC file's frames; a 400 when it is not FLAC or holds no frame. */
export function flacFrameSeconds(bytes: Uint8Array): number {
  const { framesAt, info } = flacMetadata(bytes);
  const count = new SampleCount();
  let unproved: UnprovedFrame[] = [];
  // indexOf finds each 0xFF natively: most of the file is skipped without a step of JavaScript.
  for (let at = bytes.indexOf(0xff, framesAt); at >= 0; at = bytes.indexOf(0xff, at + 1)) {
    if (((bytes[at + 1] ?? 0) & 0xfe) !== SYNC_FIXED) continue;
    const header = frameHeader(bytes, at, info);
    if (!header) continue;
    // A frame whose CRC-16 (header to footer) comes to 0 here ends here: a header found inside
    // it was a false sync, and is unbilled.
    for (const frame of unproved) {
      frame.crc = crc16(bytes, frame.upTo, at, frame.crc);
      frame.upTo = at;
    }
    const ended = unproved.findIndex((frame) => frame.crc === 0);
    if (ended >= 0) {
      for (const falseSync of unproved.slice(ended + 1)) count.add(falseSync.header, -1);
      unproved = [];
    }
    // An older frame still unproved stays billed.
    unproved = unproved.slice(1 - MAX_UNPROVED);
    unproved.push({ header, offset: at, crc: 0, upTo: at });
    count.add(header, 1);
  }
  if (count.frames === 0) throw unreadableAudio('the FLAC stream holds no frame');
  return count.seconds();
}
