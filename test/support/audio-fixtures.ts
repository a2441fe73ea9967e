import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The encoded fixtures of test/fixtures/audio (made with FFmpeg, see its README) and rewrites of
 * their headers that lie about their length: the same audio data, another declared duration.
 * Each rewrite changes only what a writer declares (and the checksum that covers it, so the file
 * stays valid), never the coded audio.
 */

export const AUDIO_FIXTURES = {
  flac: 'tone-30s.flac',
  oggOpus: 'tone-30s.opus.ogg',
  oggVorbis: 'tone-30s.vorbis.ogg',
  m4a: 'tone-30s.m4a',
  fragmentedMp4: 'tone-30s.fragmented.mp4',
  webmOpus: 'tone-30s.opus.webm',
  webmVorbis: 'tone-30s.vorbis.webm',
  webmLive: 'tone-30s.live.webm',
  mkvAac: 'tone-30s.aac.mkv',
} as const;

export type AudioFixture = keyof typeof AUDIO_FIXTURES;

export function audioFixture(name: AudioFixture): Buffer {
  return readFileSync(path.join(__dirname, '..', 'fixtures', 'audio', AUDIO_FIXTURES[name]));
}

/** FLAC: STREAMINFO's total samples (36 bits; 0 means unknown). */
export function withFlacTotalSamples(flac: Buffer, samples: number): Buffer {
  const file = Buffer.from(flac);
  // fLaC, the block header, then 10 bytes of block and frame sizes, 20+3+5 bits, then 36 bits.
  file[21] = ((file[21] as number) & 0xf0) | Math.floor(samples / 2 ** 32);
  file.writeUInt32BE(samples % 2 ** 32, 22);
  return file;
}

const OGG_CRC = (() => {
  const table = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 24;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000_0000 ? (crc << 1) ^ 0x04c1_1db7 : crc << 1;
    table[byte] = crc >>> 0;
  }
  return table;
})();

/** Ogg: each page's granule position replaced by `granule(old, pageIndex, pageCount)`, CRCs redone. */
export function withOggGranules(
  ogg: Buffer,
  granule: (old: bigint, index: number, count: number) => bigint,
): Buffer {
  const file = Buffer.from(ogg);
  const pages: [number, number][] = [];
  for (let at = 0; at + 27 <= file.length; ) {
    if (file.toString('latin1', at, at + 4) !== 'OggS') throw new Error(`no page at ${at}`);
    const segments = file[at + 26] as number;
    let end = at + 27 + segments;
    for (let i = 0; i < segments; i++) end += file[at + 27 + i] as number;
    pages.push([at, end]);
    at = end;
  }
  pages.forEach(([start, end], index) => {
    file.writeBigInt64LE(granule(file.readBigInt64LE(start + 6), index, pages.length), start + 6);
    file.writeUInt32LE(0, start + 22);
    let crc = 0;
    for (let i = start; i < end; i++)
      crc = ((crc << 8) ^ (OGG_CRC[((crc >>> 24) ^ (file[i] as number)) & 0xff] as number)) >>> 0;
    file.writeUInt32LE(crc, start + 22);
  });
  return file;
}

/** The boxes of an MP4 (containers walked), each with where its payload starts. */
function* mp4Boxes(
  file: Buffer,
  from: number,
  to: number,
): Generator<{ type: string; start: number; end: number }> {
  for (let at = from; at + 8 <= to; ) {
    const size = file.readUInt32BE(at);
    const type = file.toString('latin1', at + 4, at + 8);
    yield { type, start: at + 8, end: at + size };
    if (['moov', 'trak', 'mdia', 'minf', 'stbl', 'mvex'].includes(type))
      yield* mp4Boxes(file, at + 8, at + size);
    if (size < 8) return;
    at += size;
  }
}

/**
 * MP4: `mvhd` and `mdhd` durations set to `seconds` of their timescales, and every `stts` delta
 * set so the sample table's times add up to `seconds` too.
 */
export function withMp4Duration(mp4: Buffer, seconds: number): Buffer {
  const file = Buffer.from(mp4);
  let timescale = 1;
  for (const box of mp4Boxes(file, 0, file.length)) {
    if (box.type === 'mvhd' || box.type === 'mdhd') {
      // Version 0: flags, creation, modification, timescale, duration (32 bits each).
      timescale = file.readUInt32BE(box.start + 12);
      file.writeUInt32BE(Math.min(0xffff_ffff, Math.round(seconds * timescale)), box.start + 16);
    }
    if (box.type === 'stts') {
      const entries = file.readUInt32BE(box.start + 4);
      let samples = 0;
      for (let i = 0; i < entries; i++) samples += file.readUInt32BE(box.start + 8 + i * 8);
      const delta = Math.max(1, Math.min(0xffff_ffff, Math.round((seconds * timescale) / samples)));
      for (let i = 0; i < entries; i++) file.writeUInt32BE(delta, box.start + 12 + i * 8);
    }
  }
  return file;
}

/** MP4: the audio sample entry's four-character code (`mp4a`) replaced, as another codec's. */
export function withMp4SampleEntry(mp4: Buffer, fourcc: string): Buffer {
  const file = Buffer.from(mp4);
  const at = file.indexOf('mp4a', 0, 'latin1');
  file.write(fourcc, at, 'latin1');
  return file;
}

/** An MP4 box of `type` around `payload` (a full box's version and flags are the payload's). */
function mp4Box(type: string, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(payload.length + 8);
  header.write(type, 4, 'latin1');
  return Buffer.concat([header, payload]);
}

/**
 * MP4: the sample table's `stsz`, `stsc` and `stco` renamed `free` and replaced, at the end of
 * `stbl` (its containers grown to hold them), by `runs` sample-to-chunk runs that alternate between
 * first chunk 1 and the chunk past the last (runs that overlap, as no muxer writes them) over
 * `chunks` chunk offsets past the end of the file, and 1,000 samples of 100 bytes.
 */
export function withMp4OverlappingRuns(mp4: Buffer, runs: number, chunks: number): Buffer {
  const file = Buffer.from(mp4);
  const ancestors: number[] = [];
  let stblEnd = 0;
  for (const box of mp4Boxes(file, 0, file.length)) {
    if (['moov', 'trak', 'mdia', 'minf', 'stbl'].includes(box.type)) ancestors.push(box.start - 8);
    if (box.type === 'stbl') stblEnd = box.end;
    if (['stsz', 'stsc', 'stco', 'co64'].includes(box.type)) file.write('free', box.start - 4);
  }
  const stsz = Buffer.alloc(12);
  stsz.writeUInt32BE(100, 4);
  stsz.writeUInt32BE(1000, 8);
  const stsc = Buffer.alloc(8 + runs * 12);
  stsc.writeUInt32BE(runs, 4);
  for (let run = 0; run < runs; run++) {
    stsc.writeUInt32BE(run % 2 === 0 ? 1 : chunks + 1, 8 + run * 12);
    stsc.writeUInt32BE(1, 12 + run * 12); // samples per chunk
    stsc.writeUInt32BE(1, 16 + run * 12); // sample description
  }
  const stco = Buffer.alloc(8 + chunks * 4, 0xff);
  stco.writeUInt32BE(0, 0);
  stco.writeUInt32BE(chunks, 4);
  const added = Buffer.concat([mp4Box('stsz', stsz), mp4Box('stsc', stsc), mp4Box('stco', stco)]);
  for (const at of ancestors) file.writeUInt32BE(file.readUInt32BE(at) + added.length, at);
  return Buffer.concat([file.subarray(0, stblEnd), added, file.subarray(stblEnd)]);
}

/** An EBML variable-length number at `at` (the marker kept for ids, dropped for sizes). */
function ebmlNumber(file: Buffer, at: number, keepMarker: boolean) {
  const first = file[at] as number;
  const length = Math.clz32(first) - 23;
  let value = keepMarker ? first : first & (0xff >> length);
  let unknown = value === 0xff >> length;
  for (let i = 1; i < length; i++) {
    value = value * 256 + (file[at + i] as number);
    unknown &&= file[at + i] === 0xff;
  }
  return { value, length, unknown: unknown && !keepMarker };
}

const WEBM_MASTERS = new Set([0x1853_8067, 0x1549_a966, 0x1f43_b675, 0xa0]);

/**
 * WebM: the Segment Info's Duration set to `durationSeconds` (a 1 ms TimecodeScale, FFmpeg's),
 * and with `zeroTimestamps` every Cluster Timecode and block timecode set to 0.
 */
export function withWebmTimes(
  webm: Buffer,
  options: { durationSeconds: number; zeroTimestamps?: boolean },
): Buffer {
  const file = Buffer.from(webm);
  for (let at = 0; at < file.length; ) {
    const id = ebmlNumber(file, at, true);
    const size = ebmlNumber(file, at + id.length, false);
    const start = at + id.length + size.length;
    if (WEBM_MASTERS.has(id.value)) {
      at = start;
      continue;
    }
    if (id.value === 0x4489 && size.value === 8)
      file.writeDoubleBE(options.durationSeconds * 1_000, start);
    if (id.value === 0x4489 && size.value === 4)
      file.writeFloatBE(options.durationSeconds * 1_000, start);
    if (options.zeroTimestamps && id.value === 0xe7) file.fill(0, start, start + size.value);
    if (options.zeroTimestamps && (id.value === 0xa3 || id.value === 0xa1)) {
      const track = ebmlNumber(file, start, false);
      file.writeInt16BE(0, start + track.length);
    }
    at = start + size.value;
  }
  return file;
}

/** WebM: the audio track's CodecID (`A_OPUS`) replaced by another of the same length. */
export function withWebmCodec(webm: Buffer, codecId: string): Buffer {
  const file = Buffer.from(webm);
  file.write(codecId, file.indexOf('A_OPUS', 0, 'latin1'), 'latin1');
  return file;
}

/** WebM: the Tracks element moved from before the clusters to the end of the Segment. */
export function withWebmTracksLast(webm: Buffer): Buffer {
  const id = Buffer.from([0x16, 0x54, 0xae, 0x6b]);
  // The element itself, not a SeekHead entry naming it (SeekID 0x53AB, size 4, then the id).
  let at = webm.indexOf(id);
  while (webm[at - 3] === 0x53 && webm[at - 2] === 0xab) at = webm.indexOf(id, at + 1);
  const size = ebmlNumber(webm, at + 4, false);
  const end = at + 4 + size.length + size.value;
  return Buffer.concat([webm.subarray(0, at), webm.subarray(end), webm.subarray(at, end)]);
}
