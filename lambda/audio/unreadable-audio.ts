import { BadRequestError } from '../openai/errors';

export const ACCEPTED_FORMATS = 'flac, mp3, mp4, mpeg, mpga, m4a, ogg, wav, webm';

/** The 400 for a file whose audio cannot be found or measured: `invalid_file`, naming `file`. */
export function unreadableAudio(detail: string): BadRequestError {
  return new BadRequestError(
    `The audio file could not be read (${detail}). Send one of: ${ACCEPTED_FORMATS}.`,
    { param: 'file', code: 'invalid_file' },
  );
}
