import { opusPacketSamples } from '../../../lambda/audio/opus-packet';

/** Opus packets counted from their TOC byte (RFC 6716 3.1), reading only the packet's own bytes. */
describe('opusPacketSamples', () => {
  // Config 31 (CELT-only, 20 ms = 960 samples at 48 kHz); the low two bits are the frame-count code.
  const CELT_20MS = 31 << 3;

  it('counts one frame for code 0 and two for codes 1 (even payload) and 2', () => {
    expect(opusPacketSamples(Uint8Array.of(CELT_20MS | 0, 1, 2), 0, 3)).toBe(960);
    expect(opusPacketSamples(Uint8Array.of(CELT_20MS | 1, 1, 2), 0, 3)).toBe(1_920);
    expect(opusPacketSamples(Uint8Array.of(CELT_20MS | 1, 1), 0, 2)).toBe(0);
    expect(opusPacketSamples(Uint8Array.of(CELT_20MS | 2, 1), 0, 2)).toBe(1_920);
  });

  it('takes code 3’s frame count from the packet’s second byte, within 120 ms', () => {
    expect(opusPacketSamples(Uint8Array.of(CELT_20MS | 3, 5, 0, 0), 0, 4)).toBe(5 * 960);
    expect(opusPacketSamples(Uint8Array.of(CELT_20MS | 3, 7, 0, 0), 0, 4)).toBe(0);
  });

  it('counts nothing for a 1-byte code-3 packet, whatever byte follows it in the container', () => {
    // The packet is the first byte only; the 5 after it belongs to the next block.
    const container = Uint8Array.of(CELT_20MS | 3, 5, 0xff);
    expect(opusPacketSamples(container, 0, 1)).toBe(0);
    expect(opusPacketSamples(container, 0, 0)).toBe(0);
  });
});
