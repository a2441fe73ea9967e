/**
 * Audio files made in code for the speech-to-text tests (no binary fixtures): PCM WAV with a tone,
 * and MP3 of silent MPEG-1 Layer III frames, each optionally with a header that lies about its
 * length.
 */

export interface WavOptions {
  seconds: number;
  /** @default 16000 */
  sampleRate?: number;
  /** The `data` chunk's declared size, instead of the true one (a header claiming more than the file holds). */
  declaredDataBytes?: number;
  /** A `fact` chunk declaring this many samples (a lie when it differs from the data). */
  factSamples?: number;
  /**
   * Another codec's format tag and block layout, its data bytes given whole (`dataBytes`): the
   * tone is then meaningless, only the arithmetic of its length matters.
   */
  codec?: { formatTag: number; bitsPerSample: number; blockAlign: number; dataBytes: number };
  /** The `fmt ` chunk's declared byte rate, instead of the true one. */
  declaredByteRate?: number;
}

/** 16-bit mono PCM WAV with a 440 Hz tone. */
export function wavFile(options: WavOptions): Buffer {
  const sampleRate = options.sampleRate ?? 16_000;
  const samples = Math.round(options.seconds * sampleRate);
  const codec = options.codec;
  const data = Buffer.alloc(codec ? codec.dataBytes : samples * 2);
  for (let i = 0; !codec && i < samples; i++) {
    data.writeInt16LE(Math.round(8_000 * Math.sin((2 * Math.PI * 440 * i) / sampleRate)), i * 2);
  }
  const blockAlign = codec?.blockAlign ?? 2;
  const fmt = Buffer.alloc(24);
  fmt.write('fmt ', 0, 'latin1');
  fmt.writeUInt32LE(16, 4);
  fmt.writeUInt16LE(codec?.formatTag ?? 1, 8); // 1: PCM
  fmt.writeUInt16LE(1, 10); // mono
  fmt.writeUInt32LE(sampleRate, 12);
  fmt.writeUInt32LE(options.declaredByteRate ?? sampleRate * blockAlign, 16); // byte rate
  fmt.writeUInt16LE(blockAlign, 20); // block align
  fmt.writeUInt16LE(codec?.bitsPerSample ?? 16, 22); // bits per sample
  const fact = Buffer.alloc(options.factSamples === undefined ? 0 : 12);
  if (options.factSamples !== undefined) {
    fact.write('fact', 0, 'latin1');
    fact.writeUInt32LE(4, 4);
    fact.writeUInt32LE(options.factSamples, 8);
  }
  const dataHeader = Buffer.alloc(8);
  dataHeader.write('data', 0, 'latin1');
  dataHeader.writeUInt32LE(options.declaredDataBytes ?? data.length, 4);
  const riff = Buffer.alloc(12);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(4 + fmt.length + fact.length + 8 + data.length, 4);
  riff.write('WAVE', 8, 'latin1');
  return Buffer.concat([riff, fmt, fact, dataHeader, data]);
}

/** MPEG-1 Layer III, 44.1 kHz, stereo: frames of 1152 samples (26.12 ms). */
export const MP3_FRAME_SECONDS = 1152 / 44_100;
/** Bitrate index (the header's third byte, high nibble) to frame bytes at 44.1 kHz: 128 and 64 kbit/s. */
const FRAMES = { 128: { index: 0x9, bytes: 417 }, 64: { index: 0x5, bytes: 208 } } as const;

export interface Mp3Options {
  frames: number;
  /** A Xing header in the first frame declaring this many frames (a lie when it differs), and the stream's bytes. */
  xingFrames?: number;
  /** Alternate 128 and 64 kbit/s frames (variable bitrate) instead of 128 kbit/s throughout. */
  variable?: boolean;
  /** An ID3v2 tag of this many bytes before the first frame. */
  id3Bytes?: number;
}

/** An MP3 of silent frames (zeroed side information decodes as silence). */
export function mp3File(options: Mp3Options): Buffer {
  const frames: Buffer[] = [];
  for (let i = 0; i < options.frames; i++) {
    const kind = options.variable && i % 2 === 1 ? FRAMES[64] : FRAMES[128];
    const frame = Buffer.alloc(kind.bytes);
    frame.set([0xff, 0xfb, kind.index << 4, 0x00], 0);
    frames.push(frame);
  }
  const first = frames[0];
  if (first && options.xingFrames !== undefined) {
    // After the 4-byte header and 32 bytes of stereo MPEG-1 side information: the frames and
    // bytes fields present (music-metadata takes the duration from such a header).
    first.write('Xing', 36, 'latin1');
    first.writeUInt32BE(0x3, 40);
    first.writeUInt32BE(options.xingFrames, 44);
    first.writeUInt32BE(
      frames.reduce((sum, f) => sum + f.length, 0),
      48,
    );
  }
  const id3 = Buffer.alloc(options.id3Bytes === undefined ? 0 : 10 + options.id3Bytes);
  if (options.id3Bytes !== undefined) {
    id3.write('ID3', 0, 'latin1');
    id3.set([4, 0, 0], 3);
    const size = options.id3Bytes;
    id3.set([(size >> 21) & 0x7f, (size >> 14) & 0x7f, (size >> 7) & 0x7f, size & 0x7f], 6);
  }
  return Buffer.concat([id3, ...frames]);
}
