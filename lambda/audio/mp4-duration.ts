import { aacFrames } from './aac-config';
import { opusPacketSamples } from './opus-packet';
import { unreadableAudio } from './unreadable-audio';

/**
 * Seconds of an MP4/M4A file's audio counted from its samples' data, never from `mvhd`/`mdhd`
 * durations or `stts` deltas (all the writer's word: a delta of one tick per sample would bill an
 * hour as a fraction of a second, while the decoder still returns a whole frame for each sample).
 * The audio track's sample table (`stsz` sizes, `stsc` chunks, `stco`/`co64` offsets), or the
 * `trun` runs of a fragmented file, give each sample's bytes; a sample whose bytes are not all in
 * the file is not played and not billed. Each sample is one codec frame: AAC 1024 (or 960)
 * samples at the AudioSpecificConfig's rate (the rate the decoder uses, not `stsd`'s), Opus by
 * its TOC byte. With several audio tracks the longest is billed (the player picks one).
 */

interface Box {
  type: string;
  /** The payload's first byte and the box's end (cut to the file). */
  start: number;
  end: number;
  /** Where the box itself begins (a fragment's data offsets count from its `moof`). */
  at: number;
}

function* boxes(bytes: Uint8Array, from: number, to: number): Generator<Box> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = from; at + 8 <= to; ) {
    let size = view.getUint32(at);
    let header = 8;
    if (size === 1 && at + 16 <= to) {
      size = Number(view.getBigUint64(at + 8));
      header = 16;
    } else if (size === 0) {
      size = to - at;
    }
    if (size < header) return; // not a box: the walk cannot go on
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    yield { type, start: at + header, end: Math.min(at + size, to), at };
    at += size;
  }
}

function child(bytes: Uint8Array, parent: Box | undefined, ...path: string[]): Box | undefined {
  let box = parent;
  for (const type of path) {
    if (!box) return undefined;
    box = children(bytes, box).find((candidate) => candidate.type === type);
  }
  return box;
}

const children = (bytes: Uint8Array, parent: Box) => [...boxes(bytes, parent.start, parent.end)];

/** A codec's samples per MP4 sample, and the rate they are played at. */
interface SampleCodec {
  rate: number;
  samplesOf(bytes: Uint8Array, offset: number, size: number): number;
  /** Samples the decoder drops at the start (Opus's pre-skip). */
  preSkip: number;
}

/** The DecoderSpecificInfo of an `esds` box, when the stream is AAC: its AudioSpecificConfig. */
function esdsCodec(bytes: Uint8Array, esds: Box): SampleCodec | undefined {
  let at = esds.start + 4;
  const descriptor = () => {
    const tag = bytes[at++] ?? 0;
    let length = 0;
    for (let i = 0; i < 4; i++) {
      const byte = bytes[at++] ?? 0;
      length = length * 128 + (byte & 0x7f);
      if (byte < 0x80) break;
    }
    return { tag, length };
  };
  if (descriptor().tag !== 3) return undefined;
  const flags = bytes[at + 2] ?? 0;
  at += 3 + (flags & 0x80 ? 2 : 0); // ES_ID, flags, then dependsOn_ES_ID
  if (flags & 0x40) at += 1 + (bytes[at] ?? 0); // a URL
  if (flags & 0x20) at += 2; // OCR_ES_Id
  if (descriptor().tag !== 4) return undefined;
  const objectTypeIndication = bytes[at] ?? 0;
  at += 13;
  // 0x40: MPEG-4 audio; 0x66-0x68: MPEG-2 AAC profiles.
  if (![0x40, 0x66, 0x67, 0x68].includes(objectTypeIndication)) return undefined;
  if (descriptor().tag !== 5) return undefined;
  const aac = aacFrames(bytes.subarray(at));
  return aac && { rate: aac.rate, samplesOf: () => aac.samples, preSkip: 0 };
}

/** The codec of a track's first sample description, or a 400 naming the one not measured. */
function sampleCodec(bytes: Uint8Array, stsd: Box): SampleCodec {
  const entry = [...boxes(bytes, stsd.start + 8, stsd.end)][0];
  if (!entry) throw unreadableAudio('the MP4 audio track has no sample description');
  const version = ((bytes[entry.start + 8] ?? 0) << 8) | (bytes[entry.start + 9] ?? 0);
  // The audio sample entry's 28 bytes (QuickTime's versions 1 and 2 add 16 and 36), then boxes.
  const inner = entry.start + 28 + (version === 1 ? 16 : version === 2 ? 36 : 0);
  const within = [...boxes(bytes, inner, entry.end)];
  const wave = within.find((box) => box.type === 'wave');
  const all = wave ? [...within, ...children(bytes, wave)] : within;
  if (entry.type === 'mp4a') {
    const esds = all.find((box) => box.type === 'esds');
    const codec = esds && esdsCodec(bytes, esds);
    if (codec) return codec;
  }
  if (entry.type === 'Opus') {
    const dOps = all.find((box) => box.type === 'dOps');
    const preSkip = dOps ? ((bytes[dOps.start + 2] ?? 0) << 8) | (bytes[dOps.start + 3] ?? 0) : 0;
    return {
      rate: 48_000,
      preSkip,
      samplesOf: opusPacketSamples,
    };
  }
  throw unreadableAudio(`MP4 audio in ${entry.type}: send AAC or Opus in MP4, or another format`);
}

/** One sample's bytes in the file. */
interface SampleBytes {
  offset: number;
  size: number;
}

/**
 * The samples of a sample table whose bytes are all in the file, chunk by chunk. A table that
 * describes more samples than the file has bytes (only overlapping samples could) is refused:
 * walking it would take a request's time for nothing a decoder plays.
 */
function* tableSamples(bytes: Uint8Array, stbl: Box): Generator<SampleBytes> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stsz = child(bytes, stbl, 'stsz');
  const stsc = child(bytes, stbl, 'stsc');
  const stco = child(bytes, stbl, 'stco') ?? child(bytes, stbl, 'co64');
  if (!stsz || !stsc || !stco) throw unreadableAudio('the MP4 sample table is incomplete');
  const wide = stco.type === 'co64';
  const u32 = (at: number) => (at + 4 <= bytes.byteLength ? view.getUint32(at) : 0);
  const uniform = u32(stsz.start + 4);
  const sampleCount = u32(stsz.start + 8);
  const chunkCount = Math.min(u32(stco.start + 4), (stco.end - stco.start - 8) / (wide ? 8 : 4));
  const runs = Math.min(u32(stsc.start + 4), (stsc.end - stsc.start - 8) / 12);
  let sample = 0;
  // Each chunk is walked once, in the run that reaches it first (runs' first chunks increase in a
  // table a muxer writes): runs that overlap, each naming chunk 1 again, would otherwise cost runs
  // x chunks steps (hours of CPU in 25 MB) and bill the same bytes again.
  let walked = 0;
  for (let run = 0; run < runs && sample < sampleCount; run++) {
    const first = Math.max(u32(stsc.start + 8 + run * 12), walked + 1);
    const next = run + 1 < runs ? u32(stsc.start + 8 + (run + 1) * 12) : chunkCount + 1;
    const perChunk = u32(stsc.start + 12 + run * 12);
    for (let chunk = first; chunk < next && chunk <= chunkCount && sample < sampleCount; chunk++) {
      walked = chunk;
      const entry = stco.start + 8 + (chunk - 1) * (wide ? 8 : 4);
      let offset = wide ? Number(view.getBigUint64(entry)) : u32(entry);
      for (let i = 0; i < perChunk && sample < sampleCount; i++, sample++) {
        const size = uniform || u32(stsz.start + 12 + sample * 4);
        if (offset + size > bytes.byteLength) break; // the rest of the chunk is not in the file
        if (sample > bytes.byteLength)
          throw unreadableAudio('the MP4 sample table overlaps itself');
        if (size > 0) yield { offset, size }; // an empty sample hands the decoder nothing
        offset += size;
      }
    }
  }
}

/** A track's sample defaults from `trex`, for the fragments that do not set their own. */
interface TrackDefaults {
  size: number;
}

/** The samples of one track's `trun` runs in every `moof`, whose bytes are all in the file. */
function* fragmentSamples(
  bytes: Uint8Array,
  trackId: number,
  defaults: TrackDefaults,
): Generator<SampleBytes> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (at: number) => (at + 4 <= bytes.byteLength ? view.getUint32(at) : 0);
  let runs = 0;
  for (const moof of boxes(bytes, 0, bytes.byteLength)) {
    if (moof.type !== 'moof') continue;
    for (const traf of children(bytes, moof).filter((box) => box.type === 'traf')) {
      const tfhd = child(bytes, traf, 'tfhd');
      if (!tfhd || u32(tfhd.start + 4) !== trackId) continue;
      const tfhdFlags = u32(tfhd.start) & 0xff_ffff;
      let field = tfhd.start + 8;
      let base = moof.at; // default-base-is-moof, and the usual base without it
      if (tfhdFlags & 0x1) {
        base = Number(view.getBigUint64(field));
        field += 8;
      }
      field += (tfhdFlags & 0x2 ? 4 : 0) + (tfhdFlags & 0x8 ? 4 : 0);
      const defaultSize = tfhdFlags & 0x10 ? u32(field) : defaults.size;
      let offset = base;
      for (const trun of children(bytes, traf).filter((box) => box.type === 'trun')) {
        const flags = u32(trun.start) & 0xff_ffff;
        const count = u32(trun.start + 4);
        let at = trun.start + 8;
        if (flags & 0x1) offset = base + view.getInt32(at);
        at += (flags & 0x1 ? 4 : 0) + (flags & 0x4 ? 4 : 0);
        const stride = [0x100, 0x200, 0x400, 0x800].filter((bit) => flags & bit).length * 4;
        const sizeAt = flags & 0x100 ? 4 : 0;
        for (let i = 0; i < count && at + i * stride <= trun.end; i++) {
          const size = flags & 0x200 ? u32(at + i * stride + sizeAt) : defaultSize;
          if (offset + size > bytes.byteLength) break; // the rest of the run is not in the file
          if (++runs > bytes.byteLength) throw unreadableAudio('the MP4 fragments overlap');
          if (size > 0) yield { offset, size };
          offset += size;
        }
      }
    }
  }
}

/** Seconds of one track's samples, or undefined for a track that is not sound. */
function trackSeconds(
  bytes: Uint8Array,
  trak: Box,
  fragmented: Box | undefined,
): number | undefined {
  const hdlr = child(bytes, trak, 'mdia', 'hdlr');
  if (!hdlr || String.fromCharCode(...bytes.subarray(hdlr.start + 8, hdlr.start + 12)) !== 'soun')
    return undefined;
  const stbl = child(bytes, trak, 'mdia', 'minf', 'stbl');
  const stsd = stbl && child(bytes, stbl, 'stsd');
  if (!stbl || !stsd) throw unreadableAudio('the MP4 audio track has no sample table');
  const codec = sampleCodec(bytes, stsd);
  let samples = 0;
  for (const { offset, size } of tableSamples(bytes, stbl))
    samples += codec.samplesOf(bytes, offset, size);
  const tkhd = child(bytes, trak, 'tkhd');
  if (fragmented && tkhd) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const trackId = view.getUint32(tkhd.start + (bytes[tkhd.start] === 1 ? 20 : 12));
    const trex = children(bytes, fragmented).find(
      (box) => box.type === 'trex' && view.getUint32(box.start + 4) === trackId,
    );
    const size = trex ? view.getUint32(trex.start + 16) : 0;
    for (const sample of fragmentSamples(bytes, trackId, { size }))
      samples += codec.samplesOf(bytes, sample.offset, sample.size);
  }
  return Math.max(0, samples - codec.preSkip) / codec.rate;
}

/** Seconds of audio in an MP4/M4A file's longest audio track; a 400 when none can be walked. */
export function mp4SampleSeconds(bytes: Uint8Array): number {
  const moov = [...boxes(bytes, 0, bytes.byteLength)].find((box) => box.type === 'moov');
  if (!moov) throw unreadableAudio('the MP4 file has no moov box');
  const fragmented = child(bytes, moov, 'mvex');
  const tracks = children(bytes, moov).filter((box) => box.type === 'trak');
  const seconds = tracks
    .map((trak) => trackSeconds(bytes, trak, fragmented))
    .filter((value): value is number => value !== undefined);
  if (seconds.length === 0) throw unreadableAudio('the MP4 file has no audio track');
  return Math.max(...seconds);
}
