import { aacFrames } from './aac-config';
import { opusPacketSamples, opusPreSkip } from './opus-packet';
import { unreadableAudio } from './unreadable-audio';
import { vorbisSampleCounter } from './vorbis-packet';

/**
 * Seconds of a WebM/Matroska file's audio counted from its blocks' frames, never from the
 * Segment Info's Duration, a track's DefaultDuration or the blocks' timestamps (all the writer's
 * word: timestamps that all say 0 would bill an hour of blocks as one frame, and a decoder still
 * returns every frame). Each frame of each SimpleBlock or Block (lacing undone) counts its codec's
 * samples: Opus by its TOC byte (less OpusHead's pre-skip), Vorbis by the block sizes of its
 * setup header, AAC (Matroska) as 1024 samples a frame at its AudioSpecificConfig's rate, PCM by
 * its bytes. The walk reads the elements in order, so a Segment or Cluster of unknown size (a live
 * recording's) reads as any other; an element that runs past the end of the file is stepped over
 * by searching for the next Cluster, as FFmpeg's demuxer resyncs. A block cut short by the end of
 * the file is not counted. The longest audio track is billed.
 */

const ID = {
  segment: 0x1853_8067,
  cluster: 0x1f43_b675,
  blockGroup: 0xa0,
  tracks: 0x1654_ae6b,
  trackEntry: 0xae,
  audio: 0xe1,
  trackNumber: 0xd7,
  trackType: 0x83,
  codecId: 0x86,
  codecPrivate: 0x63a2,
  samplingFrequency: 0xb5,
  channels: 0x9f,
  bitDepth: 0x6264,
  simpleBlock: 0xa3,
  block: 0xa1,
} as const;
/** Masters whose children are read in place (their own size is not needed). */
const DESCEND = new Set<number>([
  ID.segment,
  ID.cluster,
  ID.blockGroup,
  ID.tracks,
  ID.trackEntry,
  ID.audio,
]);
const CLUSTER_ID = [0x1f, 0x43, 0xb6, 0x75];

interface Element {
  id: number;
  /** The payload's first byte and its end; undefined for an unknown size. */
  start: number;
  end: number | undefined;
}

/** An EBML variable-length integer at `at`: its value (marker removed) and its length. */
function vint(bytes: Uint8Array, at: number, keepMarker = false) {
  const first = bytes[at] ?? 0;
  const length = first === 0 ? 9 : Math.clz32(first) - 23;
  if (length > 8 || at + length > bytes.byteLength) return undefined;
  let value = keepMarker ? first : first & (0xff >> length);
  let allOnes = value === 0xff >> length;
  for (let i = 1; i < length; i++) {
    const byte = bytes[at + i] as number;
    value = value * 256 + byte;
    allOnes &&= byte === 0xff;
  }
  return { value, length, unknown: allOnes && !keepMarker };
}

function element(bytes: Uint8Array, at: number): Element | undefined {
  const id = vint(bytes, at, true);
  if (!id || id.length > 4) return undefined;
  const size = vint(bytes, at + id.length);
  if (!size) return undefined;
  const start = at + id.length + size.length;
  return { id: id.value, start, end: size.unknown ? undefined : start + size.value };
}

type FrameCounter = (bytes: Uint8Array, offset: number, size: number) => number;

/** An audio track: its codec and the samples its frames decode to. */
interface Track {
  number: number;
  type: number;
  codec: string;
  private?: Uint8Array;
  rate: number;
  channels: number;
  bitDepth: number;
  samples: number;
  counter?: FrameCounter;
  preSkip: number;
}

const uint = (bytes: Uint8Array, from: number, to: number) =>
  bytes.subarray(from, to).reduce((value, byte) => value * 256 + byte, 0);

function float(bytes: Uint8Array, from: number, to: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset + from, to - from);
  if (to - from === 4) return view.getFloat32(0);
  return to - from === 8 ? view.getFloat64(0) : 0;
}

/** Sets one TrackEntry field from its element. */
function trackField(track: Track, id: number, bytes: Uint8Array, start: number, end: number) {
  if (id === ID.trackNumber) track.number = uint(bytes, start, end);
  if (id === ID.trackType) track.type = uint(bytes, start, end);
  if (id === ID.codecId) track.codec = String.fromCharCode(...bytes.subarray(start, end));
  if (id === ID.codecPrivate) track.private = bytes.subarray(start, end);
  if (id === ID.samplingFrequency) track.rate = float(bytes, start, end);
  if (id === ID.channels) track.channels = uint(bytes, start, end);
  if (id === ID.bitDepth) track.bitDepth = uint(bytes, start, end);
}

/** The three Vorbis headers of a CodecPrivate, Xiph-laced (Matroska's A_VORBIS). */
function xiphHeaders(data: Uint8Array): Uint8Array[] {
  const sizes: number[] = [];
  let at = 1;
  for (let i = 0; i < (data[0] ?? 0); i++) {
    let size = 0;
    while ((data[at] ?? 0) === 255) size += data[at++] as number;
    sizes.push(size + (data[at++] ?? 0));
  }
  const headers: Uint8Array[] = [];
  for (const size of sizes) {
    headers.push(data.subarray(at, at + size));
    at += size;
  }
  headers.push(data.subarray(at));
  return headers;
}

/** How a track's frames are counted, from its codec; a 400 naming a codec not measured. */
function frameCounter(track: Track): FrameCounter {
  if (track.codec === 'A_OPUS') {
    track.rate = 48_000;
    track.preSkip = track.private ? (opusPreSkip(track.private) ?? 0) : 0;
    return opusPacketSamples;
  }
  if (track.codec === 'A_VORBIS' && track.private) {
    const [id, , setup] = xiphHeaders(track.private);
    const vorbis = id && setup && vorbisSampleCounter(id, setup);
    if (!vorbis) throw unreadableAudio('the WebM Vorbis headers are invalid');
    track.rate = vorbis.rate;
    return (bytes, offset, size) => vorbis.packet(bytes[offset], size);
  }
  if (track.codec === 'A_AAC') {
    // Each frame one AAC access unit, at the CodecPrivate AudioSpecificConfig's rate.
    const aac = track.private && aacFrames(track.private);
    if (!aac) throw unreadableAudio('the Matroska AAC track has no AudioSpecificConfig');
    track.rate = aac.rate;
    return (_bytes, _offset, size) => (size > 0 ? aac.samples : 0);
  }
  const frameBytes = (track.channels || 1) * Math.ceil((track.bitDepth || 0) / 8);
  if (track.codec.startsWith('A_PCM/') && frameBytes > 0)
    return (_bytes, _offset, size) => Math.floor(size / frameBytes);
  throw unreadableAudio(
    `WebM audio in ${track.codec || 'no codec'}: send Opus or Vorbis in WebM, or AAC in Matroska`,
  );
}

/** The frames of a block's payload after its header: offset and size of each (lacing undone). */
function blockFrames(bytes: Uint8Array, start: number, end: number): [number, number][] {
  const track = vint(bytes, start);
  if (!track) return [];
  let at = start + track.length + 3; // track number, 16-bit timecode, flags
  const lacing = ((bytes[at - 1] ?? 0) >> 1) & 3;
  if (lacing === 0) return [[at, end - at]];
  const count = (bytes[at++] ?? 0) + 1;
  const sizes: number[] = [];
  for (let i = 0; i < count - 1 && at < end; i++) {
    if (lacing === 1) {
      let size = 0;
      while ((bytes[at] ?? 0) === 255 && at < end) size += bytes[at++] as number;
      sizes.push(size + (bytes[at++] ?? 0));
    } else if (lacing === 3) {
      const coded = vint(bytes, at);
      if (!coded) return [];
      at += coded.length;
      // The first size is a plain number, each next one a signed difference from the last.
      const bias = 2 ** (7 * coded.length - 1) - 1;
      sizes.push(i === 0 ? coded.value : (sizes[i - 1] as number) + coded.value - bias);
    }
  }
  if (lacing === 2) sizes.push(...Array(count - 1).fill(Math.floor((end - at) / count)));
  const frames: [number, number][] = [];
  for (const size of sizes) {
    if (size < 0) return [];
    frames.push([at, size]);
    at += size;
  }
  if (at > end) return [];
  frames.push([at, end - at]);
  return frames;
}

const newTrack = (): Track => ({
  number: 0,
  type: 0,
  codec: '',
  rate: 0,
  channels: 0,
  bitDepth: 0,
  samples: 0,
  preSkip: 0,
});

/** Where the next Cluster starts after `from`, or the end of the file. */
function nextCluster(bytes: Uint8Array, from: number): number {
  for (let at = bytes.indexOf(0x1f, from); at >= 0; at = bytes.indexOf(0x1f, at + 1))
    if (CLUSTER_ID.every((byte, i) => bytes[at + i] === byte)) return at;
  return bytes.byteLength;
}

/** Adds a block's frames to its track's samples (a block cut by the end of the file is skipped). */
function countBlock(tracks: Map<number, Track>, bytes: Uint8Array, start: number, end: number) {
  const track = tracks.get(vint(bytes, start)?.value ?? 0);
  if (track?.type !== 2 || end > bytes.byteLength) return;
  const counter = track.counter ?? frameCounter(track);
  track.counter = counter;
  for (const [offset, size] of blockFrames(bytes, start, end))
    track.samples += counter(bytes, offset, size);
}

/** Seconds of audio in a WebM/Matroska file's longest audio track; a 400 when none is found. */
export function webmBlockSeconds(bytes: Uint8Array): number {
  const tracks = new Map<number, Track>();
  /** Each block's payload, start and end, in file order. */
  const blocks: number[] = [];
  let track: Track | undefined;
  let at = 0;
  while (at < bytes.byteLength) {
    const found = element(bytes, at);
    const isBlock = found?.id === ID.simpleBlock || found?.id === ID.block;
    const pastEnd =
      (found?.end ?? 0) > bytes.byteLength && !isBlock && !DESCEND.has(found?.id ?? 0);
    // Not an element, one past the end of the file, or a leaf of unknown size: resynchronise.
    if (!found || pastEnd || (found.end === undefined && !DESCEND.has(found.id))) {
      at = nextCluster(bytes, at + 1);
      continue;
    }
    const { id, start, end } = found;
    if (id === ID.trackEntry) track = newTrack();
    if (id === ID.cluster) track = undefined;
    if (DESCEND.has(id) || end === undefined) {
      at = start; // children are read in place
      continue;
    }
    if (track) trackField(track, id, bytes, start, end);
    // The entry's number may come after its other fields: it is filed when its number is read.
    // A later entry of a number already filed (a second Tracks, or a concatenated file's) is
    // ignored: it must not restart the count, nor change how the frames are counted.
    if (track && id === ID.trackNumber) {
      if (!tracks.has(track.number)) tracks.set(track.number, track);
      else track = undefined;
    }
    if (isBlock) blocks.push(start, end);
    at = end;
  }
  // Counted once every track is known: Tracks may come after the clusters (a player finds it
  // through the SeekHead), and blocks read before it must still be billed.
  for (let i = 0; i < blocks.length; i += 2)
    countBlock(tracks, bytes, blocks[i] as number, blocks[i + 1] as number);
  const audio = [...tracks.values()].filter((entry) => entry.type === 2 && entry.counter);
  if (audio.length === 0) throw unreadableAudio('the WebM file has no audio block');
  return Math.max(...audio.map((entry) => Math.max(0, entry.samples - entry.preSkip) / entry.rate));
}
