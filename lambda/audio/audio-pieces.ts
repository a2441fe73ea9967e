import { mpegFrames, type WavBlock, wavBlockOf, wavFormatOf } from './audio-duration';

/** A stretch of an audio file that is itself a playable file, and where it starts in the whole. */
export interface AudioPiece {
  bytes: Uint8Array;
  startSeconds: number;
}

/**
 * Cuts a file into playable pieces of at most `maxBytes` each, without decoding: WAV at sample
 * frames (each piece its own header), MP3 at MPEG frames. Undefined for the formats that cannot be
 * cut without a decoder (FLAC, Ogg, MP4/M4A, WebM) or a file whose structure is not found.
 */
export function audioPieces(
  bytes: Uint8Array,
  format: string,
  maxBytes: number,
): AudioPiece[] | undefined {
  if (format === 'wav') return wavPieces(bytes, maxBytes);
  if (format === 'mp3') return mp3Pieces(bytes, maxBytes);
  return undefined;
}

function wavPieces(bytes: Uint8Array, maxBytes: number): AudioPiece[] | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (bytes.byteLength < 12 || text(0) !== 'RIFF' || text(8) !== 'WAVE') return undefined;
  let fmt: Uint8Array | undefined;
  for (let at = 12; at + 8 <= bytes.byteLength; ) {
    const id = text(at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (id === 'fmt ') fmt = bytes.subarray(at, Math.min(body + size + (size % 2), bytes.length));
    if (id === 'data') {
      if (!fmt || fmt.length < 24) return undefined;
      const fmtView = new DataView(fmt.buffer, fmt.byteOffset, fmt.byteLength);
      let block: WavBlock;
      try {
        // Cut and timed by sample frames, as billing measures the file: the declared byte rate
        // is the client's word (a lying one shifted every piece after the first).
        block = wavBlockOf(wavFormatOf(fmtView, 8, fmt.length - 8));
      } catch {
        return undefined;
      }
      const data = bytes.subarray(body, Math.min(body + size, bytes.byteLength));
      const headerBytes = 12 + fmt.length + 8;
      const perPiece = Math.floor((maxBytes - headerBytes) / block.bytes) * block.bytes;
      if (perPiece <= 0) return undefined;
      const pieces: AudioPiece[] = [];
      for (let offset = 0; offset < data.length; offset += perPiece) {
        const samples = data.subarray(offset, offset + perPiece);
        pieces.push({
          bytes: wavFileOf(fmt, samples),
          startSeconds: (offset / block.bytes) * block.seconds,
        });
      }
      return pieces;
    }
    at = body + size + (size % 2);
  }
  return undefined;
}

/** A WAV file of the `fmt ` chunk (header included) and these samples. */
function wavFileOf(fmt: Uint8Array, samples: Uint8Array): Uint8Array {
  const file = new Uint8Array(12 + fmt.length + 8 + samples.length);
  const view = new DataView(file.buffer);
  const ascii = (at: number, value: string) => {
    for (let i = 0; i < 4; i++) file[at + i] = value.charCodeAt(i);
  };
  ascii(0, 'RIFF');
  view.setUint32(4, file.length - 8, true);
  ascii(8, 'WAVE');
  file.set(fmt, 12);
  const data = 12 + fmt.length;
  ascii(data, 'data');
  view.setUint32(data + 4, samples.length, true);
  file.set(samples, data + 8);
  return file;
}

function mp3Pieces(bytes: Uint8Array, maxBytes: number): AudioPiece[] | undefined {
  const pieces: AudioPiece[] = [];
  let start: number | undefined;
  let end = 0;
  let startSeconds = 0;
  let seconds = 0;
  for (const frame of mpegFrames(bytes)) {
    if (frame.length > maxBytes) return undefined;
    if (start !== undefined && frame.offset + frame.length - start > maxBytes) {
      pieces.push({ bytes: bytes.subarray(start, end), startSeconds });
      start = undefined;
    }
    if (start === undefined) {
      start = frame.offset;
      startSeconds = seconds;
    }
    end = Math.min(frame.offset + frame.length, bytes.byteLength);
    seconds += frame.seconds;
  }
  if (start === undefined) return undefined;
  pieces.push({ bytes: bytes.subarray(start, end), startSeconds });
  return pieces;
}
