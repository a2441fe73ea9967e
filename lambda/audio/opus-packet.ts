/**
 * The samples (at 48 kHz, Opus's decoding rate) one Opus packet decodes to, from its TOC byte
 * (RFC 6716 section 3.1: the configuration gives the frame size, the code the frame count), never
 * from a container's timestamps. The same packets arrive in Ogg pages and in WebM blocks.
 */

/** Frame sizes in 48 kHz samples: SILK-only (configs 0-11), hybrid (12-15), CELT-only (16-31). */
const SILK_FRAMES = [480, 960, 1_920, 2_880];
const HYBRID_FRAMES = [480, 960];
const CELT_FRAMES = [120, 240, 480, 960];
/** RFC 6716 3.2.5: a packet holds at most 120 ms of audio. */
const MAX_PACKET_SAMPLES = 5_760;

function frameSamples(toc: number): number {
  const config = toc >> 3;
  if (config < 12) return SILK_FRAMES[config & 3] as number;
  if (config < 16) return HYBRID_FRAMES[config & 1] as number;
  return CELT_FRAMES[config & 3] as number;
}

/**
 * Samples of the packet of `length` bytes at `bytes[offset]` (only its TOC and next byte are
 * read); 0 for an empty packet (a gap the decoder conceals without it) and for one a decoder
 * refuses (RFC 6716 3.2: code 1 with an odd payload, code 3 with no frames or over 120 ms).
 */
export function opusPacketSamples(bytes: Uint8Array, offset: number, length: number): number {
  if (length < 1) return 0;
  const toc = bytes[offset] ?? 0;
  // Only the packet's own bytes: a 1-byte code-3 packet has no frame-count byte (a decoder refuses
  // it), whatever byte follows it in the container.
  const second = length >= 2 ? bytes[offset + 1] : undefined;
  const code = toc & 3;
  if (code === 0) return frameSamples(toc);
  if (code === 1) return (length - 1) % 2 === 0 ? 2 * frameSamples(toc) : 0;
  if (code === 2) return length >= 2 ? 2 * frameSamples(toc) : 0;
  if (second === undefined) return 0;
  const samples = (second & 0x3f) * frameSamples(toc);
  return samples <= MAX_PACKET_SAMPLES ? samples : 0;
}

/** The pre-skip of an `OpusHead` packet (RFC 7845 5.1): samples the decoder drops at the start. */
export function opusPreSkip(head: Uint8Array): number | undefined {
  if (head.byteLength < 19 || String.fromCharCode(...head.subarray(0, 8)) !== 'OpusHead')
    return undefined;
  return (head[10] as number) | ((head[11] as number) << 8);
}
