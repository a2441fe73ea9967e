import type { TranscriptionSegment, TranscriptionWord } from '../openai/shapes/audio';
import type { AudioResponseFormat, AudioTask } from './transcription-request';

/** What a speech model heard: the text, the language, and its segments and words with their times. */
export interface Transcript {
  text: string;
  /** The language's English name in lower case (`english`), as Whisper names it. */
  language: string;
  segments: TranscriptionSegment[];
  /** Word timestamps, when they were asked for. */
  words: TranscriptionWord[];
}

export interface SpeechRequest {
  model: string;
  task: AudioTask;
  file: { name: string; bytes: Uint8Array; format: string };
  /** The file's real duration (audio-duration.ts). */
  seconds: number;
  language?: string;
  prompt?: string;
  temperature: number;
  /** Word timestamps are wanted (`timestamp_granularities[]=word`). */
  words: boolean;
  signal?: AbortSignal;
}

/** A request a backend cannot serve, answered 400 naming `param` before anything is counted. */
export interface UnsupportedSpeechRequest {
  message: string;
  param: string;
}

/**
 * Where speech models run: the test transcriber locally, the model's SageMaker endpoint in AWS.
 * Failures are `BackendError`s (inference/backends/model-backend.ts), mapped to statuses as chat's.
 */
export interface SpeechBackend {
  /**
   * What this backend cannot do for the request (word timestamps, a format written from segment
   * times); undefined: it can.
   */
  unsupported(
    request: Pick<SpeechRequest, 'model' | 'task' | 'words'> & {
      responseFormat: AudioResponseFormat;
    },
  ): UnsupportedSpeechRequest | undefined;
  transcribe(request: SpeechRequest): Promise<Transcript>;
}
