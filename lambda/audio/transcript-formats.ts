import type { Transcription, VerboseTranscription } from '../openai/shapes/audio';
import type { Transcript } from './speech-backend';
import type { AudioRequest } from './transcription-request';

/** An answer in the format the client asked for: a JSON body, or plain text (`text`, `srt`, `vtt`). */
export type AudioAnswer =
  | { kind: 'json'; body: Transcription | VerboseTranscription }
  | { kind: 'text'; body: string; contentType: string };

/** `HH:MM:SS,mmm` (SRT) or `HH:MM:SS.mmm` (WebVTT). */
export function timestamp(seconds: number, separator: ',' | '.'): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const pad = (value: number, width = 2) => String(value).padStart(width, '0');
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const secs = Math.floor((ms % 60_000) / 1000);
  return `${pad(hours)}:${pad(minutes)}:${pad(secs)}${separator}${pad(ms % 1000, 3)}`;
}

/** SubRip: numbered cues from 1, a blank line after each. */
export function toSrt(transcript: Transcript): string {
  return transcript.segments
    .map(
      (segment, i) =>
        `${i + 1}\n${timestamp(segment.start, ',')} --> ${timestamp(segment.end, ',')}\n${segment.text.trim()}\n`,
    )
    .join('\n');
}

/** WebVTT: the `WEBVTT` header, then one cue per segment. */
export function toVtt(transcript: Transcript): string {
  const cues = transcript.segments.map(
    (segment) =>
      `${timestamp(segment.start, '.')} --> ${timestamp(segment.end, '.')}\n${segment.text.trim()}\n`,
  );
  return `WEBVTT\n\n${cues.join('\n')}`;
}

/**
 * The transcript as `request.responseFormat` asks. `seconds` is the file's measured duration;
 * `billedSeconds` what the request is billed (at least the minimum), given as OpenAI's duration usage.
 */
export function audioAnswer(
  request: AudioRequest,
  transcript: Transcript,
  seconds: number,
  billedSeconds: number,
  requestId: string,
): AudioAnswer {
  const usage = { type: 'duration' as const, seconds: billedSeconds };
  const xGroq = { id: requestId };
  switch (request.responseFormat) {
    case 'text':
      return {
        kind: 'text',
        body: `${transcript.text}\n`,
        contentType: 'text/plain; charset=utf-8',
      };
    case 'srt':
      return { kind: 'text', body: toSrt(transcript), contentType: 'text/plain; charset=utf-8' };
    case 'vtt':
      return { kind: 'text', body: toVtt(transcript), contentType: 'text/vtt; charset=utf-8' };
    case 'verbose_json': {
      const granularities = request.timestampGranularities;
      // OpenAI's default granularity is the segment; asking for words alone leaves segments out.
      const withSegments = granularities.length === 0 || granularities.includes('segment');
      return {
        kind: 'json',
        body: {
          task: request.task,
          language: transcript.language,
          duration: Math.round(seconds * 1000) / 1000,
          text: transcript.text,
          ...(withSegments ? { segments: transcript.segments } : {}),
          ...(granularities.includes('word') ? { words: transcript.words } : {}),
          usage,
          x_groq: xGroq,
        },
      };
    }
    default:
      return { kind: 'json', body: { text: transcript.text, usage, x_groq: xGroq } };
  }
}
