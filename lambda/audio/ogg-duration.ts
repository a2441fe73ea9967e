import { opusPacketSamples, opusPreSkip } from './opus-packet';
import { unreadableAudio } from './unreadable-audio';
import { type VorbisSampleCounter, vorbisSampleCounter } from './vorbis-packet';

/**
 * Seconds of an Ogg file counted from its packets, never from granule positions (the writer's
 * word: the last page's granule billed an hour as a second). Pages are found as libogg finds
 * them: `OggS`, version 0, and a CRC-32 that holds (a page that fails it is skipped, and the
 * search goes on from the next byte, so a forged page cannot hide the real ones behind it).
 * Packets are rebuilt from the lacing values of each logical stream; each Opus packet counts its
 * TOC's samples (less the OpusHead pre-skip), each Vorbis packet its block sizes. Chained streams
 * are added up; a stream of another codec (FLAC in Ogg, Speex) is refused.
 */

/**
 * Ogg's CRC-32 tables for four bytes at a step ("slicing by 4"): table k gives a byte's CRC
 * followed by k zero bytes. A 25 MB file is checked in a quarter of the steps of the byte loop.
 */
const CRC32 = (() => {
  const tables = [0, 1, 2, 3].map(() => new Uint32Array(256));
  const [first] = tables as [Uint32Array];
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 24;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000_0000 ? (crc << 1) ^ 0x04c1_1db7 : crc << 1;
    first[byte] = crc >>> 0;
  }
  for (let k = 1; k < 4; k++) {
    const previous = tables[k - 1] as Uint32Array;
    const table = tables[k] as Uint32Array;
    for (let byte = 0; byte < 256; byte++) {
      const crc = previous[byte] as number;
      table[byte] = ((crc << 8) ^ (first[crc >>> 24] as number)) >>> 0;
    }
  }
  return tables as [Uint32Array, Uint32Array, Uint32Array, Uint32Array];
})();

/** Ogg's CRC-32 (no reflection, init 0) of `bytes[from, to)` continued from `crc`. */
function crc32(bytes: Uint8Array, from: number, to: number, crc: number): number {
  const [t0, t1, t2, t3] = CRC32;
  let value = crc;
  let i = from;
  for (; i + 4 <= to; i += 4) {
    value ^=
      ((bytes[i] as number) << 24) |
      ((bytes[i + 1] as number) << 16) |
      ((bytes[i + 2] as number) << 8) |
      (bytes[i + 3] as number);
    value =
      (t3[value >>> 24] as number) ^
      (t2[(value >>> 16) & 0xff] as number) ^
      (t1[(value >>> 8) & 0xff] as number) ^
      (t0[value & 0xff] as number);
  }
  for (; i < to; i++)
    value = (value << 8) ^ (t0[((value >>> 24) ^ (bytes[i] as number)) & 0xff] as number);
  return value;
}

const ZEROS = new Uint8Array(4);

/** A page's CRC-32, its own CRC field read as zeros. */
function pageCrc(bytes: Uint8Array, start: number, end: number): number {
  const header = crc32(bytes, start, start + 22, 0);
  return crc32(bytes, start + 26, end, crc32(ZEROS, 0, 4, header)) >>> 0;
}

interface OggPage {
  serial: number;
  beginsStream: boolean;
  continuesPacket: boolean;
  /** Each segment's bytes, by the lacing values. */
  lacing: Uint8Array;
  body: number;
}

/**
 * The pages whose CRC holds, in order; anything else is stepped over a byte at a time. A capture
 * pattern whose CRC fails costs the CRC of up to 64 KB: capture patterns a few hundred bytes apart,
 * each failing, cost hundreds of times the file's bytes (10 s of CPU in 25 MB). A file whose failed
 * pages add up to more than its own length is refused: a recording damaged here and there is not.
 */
function* oggPages(bytes: Uint8Array): Generator<OggPage> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let failedBytes = 0;
  for (let at = bytes.indexOf(0x4f); at >= 0 && at + 27 <= bytes.byteLength; ) {
    const page = view.getUint32(at) === 0x4f67_6753 && bytes[at + 4] === 0;
    const segments = bytes[at + 26] as number;
    const lacing = bytes.subarray(at + 27, at + 27 + segments);
    const body = at + 27 + segments;
    const end = body + lacing.reduce((sum, value) => sum + value, 0);
    if (
      page &&
      end <= bytes.byteLength &&
      pageCrc(bytes, at, end) === view.getUint32(at + 22, true)
    ) {
      const flags = bytes[at + 5] as number;
      yield {
        serial: view.getUint32(at + 14, true),
        beginsStream: (flags & 2) !== 0,
        continuesPacket: (flags & 1) !== 0,
        lacing,
        body,
      };
      at = end;
    } else {
      if (page && end <= bytes.byteLength) failedBytes += end - at;
      if (failedBytes > bytes.byteLength)
        throw unreadableAudio('its Ogg pages fail their checksums over more than its length');
      at = bytes.indexOf(0x4f, at + 1);
    }
  }
}

/** One logical stream: its codec from its first packets, and the samples of its audio packets. */
class OggStream {
  samples = 0;
  private headers: Uint8Array[] = [];
  private codec: 'opus' | 'vorbis' | 'other' | undefined;
  private vorbis: VorbisSampleCounter | undefined;
  private preSkip = 0;

  /** How many packets are headers, by the codec (Opus 2, Vorbis 3). */
  private get headerCount(): number {
    return this.codec === 'vorbis' ? 3 : this.codec === 'opus' ? 2 : 1;
  }

  /** Whether a packet is still a header, whose whole bytes {@link packet} needs. */
  wantsWhole(): boolean {
    return this.headers.length < this.headerCount;
  }

  packet(bytes: Uint8Array, length: number): void {
    if (this.wantsWhole()) {
      this.header(bytes);
      return;
    }
    if (this.codec === 'opus') this.samples += opusPacketSamples(bytes, 0, length);
    if (this.codec === 'vorbis') this.samples += this.vorbis?.packet(bytes[0], length) ?? 0;
  }

  private header(packet: Uint8Array): void {
    this.headers.push(packet);
    if (this.headers.length === 1) {
      const magic = String.fromCharCode(...packet.subarray(0, 8));
      this.codec =
        magic === 'OpusHead' ? 'opus' : magic.startsWith('\x01vorbis') ? 'vorbis' : 'other';
      this.preSkip = opusPreSkip(packet) ?? 0;
    }
    if (this.codec === 'vorbis' && this.headers.length === 3) {
      this.vorbis = vorbisSampleCounter(this.headers[0] as Uint8Array, packet);
      if (!this.vorbis) throw unreadableAudio('the Vorbis identification header is invalid');
    }
  }

  /** Seconds decoded: Opus at 48 kHz less its pre-skip, Vorbis at its sample rate. */
  seconds(): number {
    if (this.codec === 'opus') return Math.max(0, this.samples - this.preSkip) / 48_000;
    const rate = this.vorbis?.rate ?? 0;
    if (this.codec === 'vorbis' && rate > 0) return this.samples / rate;
    return 0;
  }

  get kind(): string | undefined {
    return this.codec;
  }
}

/** A packet being gathered across segments and pages: whole while a header, else its start. */
interface PartialPacket {
  parts: Uint8Array[];
  length: number;
}

/** Splits each page's segments into packets, stream by stream, and hands them to the stream. */
function addPage(
  streams: Map<number, OggStream>,
  partials: Map<number, PartialPacket>,
  page: OggPage,
  bytes: Uint8Array,
): void {
  if (page.beginsStream) {
    streams.set(page.serial, new OggStream());
    partials.delete(page.serial);
  }
  const stream = streams.get(page.serial);
  if (!stream) return; // a stream whose first page was lost or damaged: decoders skip it too
  let partial = partials.get(page.serial);
  // A packet cut by a lost page is dropped, as libogg drops it (a hole in the stream).
  if (partial && !page.continuesPacket) partial = undefined;
  let skipping = !partial && page.continuesPacket;
  let at = page.body;
  for (const size of page.lacing) {
    const segment = bytes.subarray(at, at + size);
    at += size;
    if (!skipping) {
      partial ??= { parts: [], length: 0 };
      // An audio packet is judged by its first two bytes: only those are kept.
      if (stream.wantsWhole() || partial.length < 2) partial.parts.push(segment);
      partial.length += size;
    }
    if (size < 255) {
      if (partial && !skipping) stream.packet(concat(partial.parts), partial.length);
      partial = undefined;
      skipping = false;
    }
  }
  if (partial) partials.set(page.serial, partial);
  else partials.delete(page.serial);
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  const whole = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    whole.set(part, at);
    at += part.byteLength;
  }
  return whole;
}

/** Seconds of audio in an Ogg file's Opus or Vorbis packets; a 400 when none can be counted. */
export function oggPacketSeconds(bytes: Uint8Array): number {
  const streams = new Map<number, OggStream>();
  const partials = new Map<number, PartialPacket>();
  const ended: OggStream[] = [];
  for (const page of oggPages(bytes)) {
    const earlier = page.beginsStream ? streams.get(page.serial) : undefined;
    if (earlier) ended.push(earlier); // a chained stream that reuses its serial number
    addPage(streams, partials, page, bytes);
  }
  const all = [...ended, ...streams.values()];
  const other = all.find((stream) => stream.kind === 'other');
  const audio = all.filter((stream) => stream.kind === 'opus' || stream.kind === 'vorbis');
  if (audio.length === 0)
    throw unreadableAudio(
      other ? 'an Ogg stream of a codec other than Opus or Vorbis' : 'no Ogg page',
    );
  return audio.reduce((sum, stream) => sum + stream.seconds(), 0);
}
