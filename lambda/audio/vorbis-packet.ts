import { unreadableAudio } from './unreadable-audio';

/**
 * How many samples each Vorbis audio packet adds, from the codec's own headers (Vorbis I spec,
 * sections 4.2.2 and 4.3.1), never a container's timestamps or granule positions: a packet's
 * window is the short or the long block size by its mode, and the decoder returns a quarter of
 * the previous window and a quarter of this one (the first packet returns nothing).
 */

export interface VorbisBlocks {
  /** The identification header's short and long block sizes. */
  short: number;
  long: number;
  /** Each mode's block flag (true: the long block), from the setup header. */
  modeIsLong: boolean[];
}

/** The identification header's block sizes, or undefined for a packet that is not one. */
function vorbisBlockSizes(id: Uint8Array): { short: number; long: number } | undefined {
  if (id.byteLength < 30 || id[0] !== 1 || String.fromCharCode(...id.subarray(1, 7)) !== 'vorbis')
    return undefined;
  const sizes = id[28] as number;
  const short = 1 << (sizes & 0x0f);
  const long = 1 << (sizes >> 4);
  // The spec allows 64 to 8192, the short one no longer than the long one.
  if (short < 64 || long > 8_192 || short > long) return undefined;
  return { short, long };
}

/** Reads a Vorbis bitstream (least significant bit first) backwards from its last bit. */
class BackwardBits {
  constructor(
    private readonly bytes: Uint8Array,
    public position: number = bytes.byteLength * 8,
  ) {}

  get left(): number {
    return this.position;
  }

  /** `count` bits, the one read first the most significant (the field's own order, reversed). */
  read(count: number): number {
    let value = 0;
    for (let i = 0; i < count; i++) {
      this.position -= 1;
      const bit = ((this.bytes[this.position >> 3] as number) >> (this.position & 7)) & 1;
      value = value * 2 + bit;
    }
    return value;
  }
}

/**
 * The modes' block flags of a setup header, found from its end as FFmpeg's Vorbis parser does
 * (libavcodec/vorbis_parser.c, `parse_setup_header`): the framing bit, then 41-bit modes whose
 * window and transform types must be 0 and mapping under 64, as many as the 6-bit mode count
 * before them says. Reading the codebooks, floors and residues in front would take a decoder.
 */
function vorbisModes(setup: Uint8Array): boolean[] {
  if (setup[0] !== 5 || String.fromCharCode(...setup.subarray(1, 7)) !== 'vorbis')
    throw unreadableAudio('the Vorbis setup header is missing');
  const bits = new BackwardBits(setup);
  let afterFraming: number | undefined;
  while (afterFraming === undefined && bits.left > 97)
    if (bits.read(1) === 1) afterFraming = bits.position;
  // Each mode read backwards: mapping (8 bits), transform (16), window (16), block flag (1).
  let modesSeen = 0;
  let modeCount = 0;
  while (afterFraming !== undefined && bits.left >= 97 && modesSeen < 64) {
    if (bits.read(8) > 63 || bits.read(16) !== 0 || bits.read(16) !== 0) break;
    bits.read(1);
    modesSeen += 1;
    if (new BackwardBits(setup, bits.position).read(6) + 1 === modesSeen) modeCount = modesSeen;
  }
  if (afterFraming === undefined || modeCount === 0)
    throw unreadableAudio('the Vorbis setup header has no modes');
  const flags = new BackwardBits(setup, afterFraming);
  const modeIsLong: boolean[] = [];
  for (let mode = modeCount - 1; mode >= 0; mode--) {
    flags.read(40);
    modeIsLong[mode] = flags.read(1) === 1;
  }
  return modeIsLong;
}

/**
 * The counter of a stream whose identification and setup headers are these (Ogg pages and
 * Matroska's CodecPrivate carry the same ones); undefined for an invalid identification header,
 * a 400 for a setup header whose modes cannot be found.
 */
export function vorbisSampleCounter(
  id: Uint8Array,
  setup: Uint8Array,
): VorbisSampleCounter | undefined {
  const sizes = vorbisBlockSizes(id);
  if (!sizes) return undefined;
  const rate = new DataView(id.buffer, id.byteOffset, id.byteLength).getUint32(12, true);
  return new VorbisSampleCounter({ ...sizes, modeIsLong: vorbisModes(setup) }, rate);
}

/** Counts the samples of a Vorbis stream's audio packets in order. */
export class VorbisSampleCounter {
  private previousBlock: number | undefined;
  private readonly modeBits: number;

  constructor(
    private readonly blocks: VorbisBlocks,
    /** The identification header's sample rate: the packets' samples are at it. */
    readonly rate: number,
  ) {
    // ilog(modes - 1): the bits of a packet's mode number, after its packet-type bit.
    this.modeBits = Math.ceil(Math.log2(blocks.modeIsLong.length));
  }

  /** The samples the decoder returns for an audio packet starting with `first`. */
  packet(first: number | undefined, length: number): number {
    // An empty packet or a header packet (type bit 1) returns no audio.
    if (length === 0 || first === undefined || (first & 1) === 1) return 0;
    const mode = (first >> 1) & ((1 << this.modeBits) - 1);
    const isLong = this.blocks.modeIsLong[mode];
    if (isLong === undefined) return 0; // a mode the setup does not have: the decoder refuses it
    const block = isLong ? this.blocks.long : this.blocks.short;
    const samples = this.previousBlock === undefined ? 0 : (this.previousBlock + block) / 4;
    this.previousBlock = block;
    return samples;
  }
}
