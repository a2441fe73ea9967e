import type { TranscriptionSegment } from '../openai/shapes/audio';
import { languageName } from './languages';
import type { SpeechBackend, SpeechRequest, Transcript } from './speech-backend';

/** Seconds of audio per segment the test transcriber writes. */
const SEGMENT_SECONDS = 10;

const seconds2 = (value: number) => Math.round(value * 100) / 100;

/**
 * A deterministic stand-in for Whisper (local mode and tests): it hears no words, it describes the
 * file. One segment per started 10 s of the file's real duration, reading `Segment N of the
 * <format> file, A s to B s.`, so a test can tell from the text which file and how much of it was
 * transcribed; word times spread evenly over their segment. Translations read the same in English.
 * Local mode names it in `/v1/models` as it names the test chat model (`TEST_MODEL_OWNER`).
 */
export class TestTranscriber implements SpeechBackend {
  /** It does every task and every granularity. */
  unsupported(): undefined {
    return undefined;
  }

  async transcribe(request: SpeechRequest): Promise<Transcript> {
    request.signal?.throwIfAborted();
    const language =
      request.task === 'translate' ? 'english' : languageName(request.language, 'english');
    const count = Math.max(1, Math.ceil(request.seconds / SEGMENT_SECONDS));
    const segments: TranscriptionSegment[] = [];
    const words: Transcript['words'] = [];
    for (let i = 0; i < count; i++) {
      const start = i * SEGMENT_SECONDS;
      const end = seconds2(Math.min(request.seconds, start + SEGMENT_SECONDS));
      const text = ` Segment ${i + 1} of the ${request.file.format} file, ${start} s to ${end} s.`;
      segments.push({
        id: i,
        seek: start * 100,
        start,
        end,
        text,
        tokens: [...text].slice(0, 8).map((char) => char.charCodeAt(0)),
        temperature: request.temperature,
        avg_logprob: -0.1,
        compression_ratio: 1,
        no_speech_prob: 0,
      });
      if (request.words) {
        const spoken = text.trim().split(/\s+/);
        const each = (end - start) / spoken.length;
        spoken.forEach((word, n) => {
          words.push({
            word,
            start: seconds2(start + n * each),
            end: seconds2(start + (n + 1) * each),
          });
        });
      }
    }
    const text = segments
      .map((segment) => segment.text)
      .join('')
      .trim();
    return { text, language, segments, words };
  }
}
