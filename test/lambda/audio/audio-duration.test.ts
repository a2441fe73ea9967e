import fc from 'fast-check';
import { parseBuffer } from 'music-metadata';
import {
  measureAudio,
  mpegFrameSeconds,
  wavDataSeconds,
} from '../../../lambda/audio/audio-duration';
import { MP3_FRAME_SECONDS, mp3File, wavFile } from '../../support/audio-files';

describe('measureAudio: the real duration, never the header word', () => {
  it('measures a WAV file by its samples', async () => {
    await expect(measureAudio(wavFile({ seconds: 3.25 }))).resolves.toEqual({
      format: 'wav',
      seconds: 3.25,
    });
  });

  it('cuts a WAV data chunk that claims more than the file holds to the bytes present', async () => {
    const lying = wavFile({ seconds: 3, declaredDataBytes: 3_600 * 32_000 });
    expect((await measureAudio(lying)).seconds).toBe(3);
  });

  it('overrules a fact chunk that claims fewer samples than the data holds', async () => {
    const lying = wavFile({ seconds: 4, factSamples: 16 });
    // The library alone trusts the fact chunk: 16 samples, 1 ms.
    const trusted = await parseBuffer(lying, { size: lying.length });
    expect(trusted.format.duration).toBe(0.001);
    expect((await measureAudio(lying)).seconds).toBe(4);
    expect(wavDataSeconds(lying)).toBe(4);
  });

  it('measures A-law, µ-law and IMA ADPCM WAV by their data, whatever fact and byte rate say', async () => {
    // 60 s of 8 kHz µ-law and A-law: one byte a sample. The fact chunk claims 160 samples (20 ms);
    // decoders (libsndfile) count the data, so billing by the fact chunk was a minute for 10 s.
    for (const formatTag of [6, 7]) {
      const codec = { formatTag, bitsPerSample: 8, blockAlign: 1, dataBytes: 480_000 };
      for (const declaredByteRate of [undefined, 0x0fff_ffff]) {
        const lying = wavFile({
          seconds: 0,
          sampleRate: 8_000,
          factSamples: 160,
          codec,
          declaredByteRate,
        });
        expect((await measureAudio(lying)).seconds).toBe(60);
      }
    }
    // IMA ADPCM, mono, 256-byte blocks: a 4-byte header and 252 bytes of 4-bit samples, 505 a block.
    const ima = { formatTag: 0x11, bitsPerSample: 4, blockAlign: 256, dataBytes: 256 * 160 };
    const adpcm = wavFile({ seconds: 0, sampleRate: 8_000, factSamples: 160, codec: ima });
    expect((await measureAudio(adpcm)).seconds).toBe((160 * 505) / 8_000);
  });

  it('measures PCM by sample rate and sample size, not the declared byte rate', async () => {
    const lying = wavFile({ seconds: 30, factSamples: 16, declaredByteRate: 0x0fff_ffff });
    expect((await measureAudio(lying)).seconds).toBe(30);
    // WAVE_FORMAT_EXTENSIBLE (PCM inside) with the same lies.
    const extensible = Buffer.from(lying);
    extensible.writeUInt16LE(0xfffe, 20);
    expect((await measureAudio(extensible)).seconds).toBe(30);
  });

  it('refuses a WAV codec whose length cannot be counted from its data, naming file', async () => {
    // MPEG audio (0x55) and GSM 6.10 (0x31) inside WAV: only the fact chunk would say how long.
    for (const formatTag of [0x55, 0x31]) {
      const codec = { formatTag, bitsPerSample: 0, blockAlign: 65, dataBytes: 65 * 1_000 };
      const wrapped = wavFile({ seconds: 0, factSamples: 160, codec });
      await expect(measureAudio(wrapped)).rejects.toMatchObject({
        status: 400,
        param: 'file',
        code: 'invalid_file',
      });
    }
  });

  it('answers a WAV whose header bytes are anything with a duration or a 400, never a crash', async () => {
    const base = wavFile({ seconds: 0.5, factSamples: 8_000 });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat({ max: 63 }), fc.nat({ max: 255 })), {
          minLength: 1,
          maxLength: 12,
        }),
        fc.nat({ max: base.length }),
        async (writes, cut) => {
          const bytes = Buffer.from(base.subarray(0, Math.max(cut, 12)));
          for (const [at, value] of writes) if (at >= 12 && at < bytes.length) bytes[at] = value;
          const outcome = await measureAudio(bytes).then(
            (measured) => ({ seconds: measured.seconds, status: 200 }),
            (error: { status?: number }) => ({ seconds: 1, status: error.status }),
          );
          expect(outcome.status === 200 || outcome.status === 400).toBe(true);
          expect(Number.isFinite(outcome.seconds) && outcome.seconds > 0).toBe(true);
        },
      ),
      { seed: 24, numRuns: 400 },
    );
  });

  it('counts the frames of an MP3 whose Xing header claims fewer or more', async () => {
    const frames = 1_000;
    for (const variable of [false, true]) {
      for (const xingFrames of [undefined, 10, 100_000]) {
        const measured = await measureAudio(mp3File({ frames, xingFrames, variable }));
        expect(measured.format).toBe('mp3');
        expect(measured.seconds).toBeCloseTo(frames * MP3_FRAME_SECONDS, 6);
      }
    }
    // The library alone believes the header's 10 frames, even when asked to scan (`duration`).
    const lying = mp3File({ frames, xingFrames: 10, variable: true });
    const trusted = await parseBuffer(lying, { size: lying.length }, { duration: true });
    expect(trusted.format.duration).toBeCloseTo(10 * MP3_FRAME_SECONDS, 6);
  });

  it('skips an ID3v2 tag and counts a frame cut short at the end', async () => {
    const tagged = mp3File({ frames: 100, id3Bytes: 3_000 });
    expect(mpegFrameSeconds(tagged)).toBeCloseTo(100 * MP3_FRAME_SECONDS, 6);
    expect(mpegFrameSeconds(tagged.subarray(0, tagged.length - 100))).toBeCloseTo(
      100 * MP3_FRAME_SECONDS,
      6,
    );
    expect((await measureAudio(tagged)).seconds).toBeCloseTo(100 * MP3_FRAME_SECONDS, 6);
  });

  it('refuses what is not audio in an accepted format with a 400 naming file', async () => {
    for (const bytes of [
      new Uint8Array(),
      Buffer.from('just some text, not audio'),
      Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n', 'latin1'),
    ]) {
      await expect(measureAudio(bytes)).rejects.toMatchObject({
        status: 400,
        param: 'file',
        code: 'invalid_file',
      });
    }
  });

  it('refuses a WAV file with no samples', async () => {
    await expect(measureAudio(wavFile({ seconds: 0 }))).rejects.toMatchObject({ status: 400 });
  });
});
