import { billedSeconds, resolveSpeechModel } from '../../../lambda/audio/speech-models';
import { TestTranscriber } from '../../../lambda/audio/test-transcriber';
import { audioAnswer, timestamp, toSrt, toVtt } from '../../../lambda/audio/transcript-formats';
import { type AudioRequest, parseAudioRequest } from '../../../lambda/audio/transcription-request';
import { costMicroUsd } from '../../../lambda/metering/pricing';
import { audioSecondPrices, speechLimits } from '../../../lambda/metering/request-metering';
import { loadConfig } from '../../../lib/config/load';

const config = loadConfig({ env: 'dev' });
const TURBO = 'whisper-large-v3-turbo';

describe('parseAudioRequest', () => {
  it.each([
    ['file-0123abc', 'file-0123abc'],
    ['https://api.example.com/v1/files/file-0123abc/content', 'file-0123abc'],
    ['http://127.0.0.1:8080/openai/v1/files/file-0123abc/content', 'file-0123abc'],
  ])('reads the stored file %s names', (url, id) => {
    expect(parseAudioRequest('transcribe', { model: TURBO, url }).storedFileId).toBe(id);
  });

  it('takes the fields OpenAI and Groq take, with their defaults', () => {
    expect(parseAudioRequest('transcribe', { model: TURBO })).toEqual({
      task: 'transcribe',
      model: TURBO,
      language: undefined,
      prompt: undefined,
      responseFormat: 'json',
      temperature: 0,
      timestampGranularities: [],
    });
    expect(
      parseAudioRequest('transcribe', {
        model: TURBO,
        language: 'de',
        prompt: 'Names: Ada',
        response_format: 'verbose_json',
        temperature: '0.4',
        'timestamp_granularities[]': ['word', 'segment', 'word'],
      }),
    ).toMatchObject({
      language: 'de',
      temperature: 0.4,
      timestampGranularities: ['word', 'segment'],
    });
  });

  it.each([
    [{}, 'model', 'missing_required_parameter'],
    [{ model: TURBO, response_format: 'mp3' }, 'response_format', 'invalid_value'],
    [{ model: TURBO, temperature: 'warm' }, 'temperature', 'invalid_value'],
    [{ model: TURBO, temperature: '1.5' }, 'temperature', 'invalid_value'],
    [{ model: TURBO, language: 'English' }, 'language', 'invalid_language'],
    [{ model: TURBO, prompt: 'x'.repeat(1_001) }, 'prompt', 'invalid_value'],
    // Groq's url names a stored file here; the gateway fetches no URL.
    [{ model: TURBO, url: 'https://example.com/a.mp3' }, 'url', 'invalid_value'],
    [{ model: TURBO, url: 'file-abc/../../x' }, 'url', 'invalid_value'],
    [{ model: TURBO, unknown: 'x' }, 'unknown', 'unknown_parameter'],
    [
      { model: TURBO, 'timestamp_granularities[]': ['word'] },
      'timestamp_granularities[]',
      'invalid_value',
    ],
    [
      { model: TURBO, response_format: 'verbose_json', 'timestamp_granularities[]': ['char'] },
      'timestamp_granularities[]',
      'invalid_value',
    ],
  ])('refuses %j naming %s', (fields, param, code) => {
    expect(() => parseAudioRequest('transcribe', fields)).toThrow(
      expect.objectContaining({ status: 400, param, code }),
    );
  });

  it('refuses a language on a translation (it always answers in English)', () => {
    expect(() => parseAudioRequest('translate', { model: TURBO, language: 'fr' })).toThrow(
      expect.objectContaining({ status: 400, param: 'language', code: 'unknown_parameter' }),
    );
  });
});

describe('speech models', () => {
  it('resolves a tier’s model, 404s a chat model, 400s a translation on turbo', () => {
    expect(resolveSpeechModel(config, 'free', TURBO, 'transcribe').offer).toMatchObject({
      ash: 7_200,
      asd: 28_800,
    });
    expect(() => resolveSpeechModel(config, 'free', 'qwen3-8b', 'transcribe')).toThrow(
      expect.objectContaining({ status: 404, code: 'model_not_found' }),
    );
    expect(() => resolveSpeechModel(config, 'free', TURBO, 'translate')).toThrow(
      expect.objectContaining({ status: 400, code: 'model_not_supported' }),
    );
    expect(() => resolveSpeechModel(config, 'free', '__proto__', 'transcribe')).toThrow(
      expect.objectContaining({ status: 404 }),
    );
  });

  it('bills whole seconds, rounded up, 10 at least (Groq)', () => {
    const model = config.speechModels[TURBO];
    if (!model) throw new Error('no turbo');
    expect(billedSeconds(model, 0.5)).toBe(10);
    expect(billedSeconds(model, 10)).toBe(10);
    expect(billedSeconds(model, 10.01)).toBe(11);
    expect(billedSeconds(model, 3_600)).toBe(3_600);
  });
});

describe('prices per hour of audio', () => {
  it('bills an hour at the configured price and 10 s at a 360th of it, rounded up to the µ$', () => {
    const turbo = audioSecondPrices(0.04);
    expect(turbo).toEqual({ inputMicroUsdPerMillion: 11_111_111, outputMicroUsdPerMillion: 0 });
    expect(costMicroUsd({ inputTokens: 3_600, outputTokens: 0 }, turbo)).toBe(40_000);
    expect(costMicroUsd({ inputTokens: 10, outputTokens: 0 }, turbo)).toBe(112);
    const v3 = audioSecondPrices(0.111);
    expect(costMicroUsd({ inputTokens: 3_600, outputTokens: 0 }, v3)).toBe(111_000);
  });

  it('limits a speech offer in audio seconds per hour and day, its RPM as 60 x RPM per hour', () => {
    expect(speechLimits({ rpm: 20, rpd: 2_000, ash: 7_200, asd: 28_800, usdPerHour: 0 })).toEqual({
      rpm: 1_200,
      rpd: 2_000,
      tpm: 7_200,
      tpd: 28_800,
      measure: 'audio_seconds',
    });
  });
});

describe('answer formats', () => {
  const request = (over: Partial<AudioRequest>): AudioRequest => ({
    task: 'transcribe',
    model: TURBO,
    responseFormat: 'json',
    temperature: 0,
    timestampGranularities: [],
    ...over,
  });
  const transcribe = (seconds: number, words = false) =>
    new TestTranscriber().transcribe({
      model: TURBO,
      task: 'transcribe',
      file: { name: 'a.wav', bytes: new Uint8Array(), format: 'wav' },
      seconds,
      temperature: 0,
      words,
    });

  it('writes timestamps as SRT and WebVTT do', () => {
    expect(timestamp(0, ',')).toBe('00:00:00,000');
    expect(timestamp(3_723.4567, '.')).toBe('01:02:03.457');
  });

  it('writes SRT cues numbered from 1, and WebVTT with its header', async () => {
    const transcript = await transcribe(21);
    expect(toSrt(transcript).split('\n\n')).toEqual([
      '1\n00:00:00,000 --> 00:00:10,000\nSegment 1 of the wav file, 0 s to 10 s.',
      '2\n00:00:10,000 --> 00:00:20,000\nSegment 2 of the wav file, 10 s to 20 s.',
      '3\n00:00:20,000 --> 00:00:21,000\nSegment 3 of the wav file, 20 s to 21 s.\n',
    ]);
    expect(toVtt(transcript).startsWith('WEBVTT\n\n00:00:00.000 --> 00:00:10.000\n')).toBe(true);
  });

  it('gives verbose_json segments by default, words only when asked, and the duration usage', async () => {
    const transcript = await transcribe(12.3456, true);
    const plain = audioAnswer(
      request({ responseFormat: 'verbose_json' }),
      transcript,
      12.3456,
      13,
      'r',
    );
    expect(plain).toMatchObject({
      kind: 'json',
      body: { duration: 12.346, language: 'english', usage: { type: 'duration', seconds: 13 } },
    });
    expect(plain.kind === 'json' && 'segments' in plain.body).toBe(true);
    expect(plain.kind === 'json' && 'words' in plain.body).toBe(false);
    const words = audioAnswer(
      request({ responseFormat: 'verbose_json', timestampGranularities: ['word'] }),
      transcript,
      12.3456,
      13,
      'r',
    );
    expect(words.kind === 'json' && 'segments' in words.body).toBe(false);
    expect(words.kind === 'json' && 'words' in words.body && words.body.words?.length).toBe(22);
    expect(audioAnswer(request({ responseFormat: 'text' }), transcript, 12, 13, 'r')).toEqual({
      kind: 'text',
      body: `${transcript.text}\n`,
      contentType: 'text/plain; charset=utf-8',
    });
  });
});
