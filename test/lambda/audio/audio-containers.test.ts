import fc from 'fast-check';
import { parseBuffer } from 'music-metadata';
import { measureAudio } from '../../../lambda/audio/audio-duration';
import {
  AUDIO_FIXTURES,
  type AudioFixture,
  audioFixture,
  withFlacTotalSamples,
  withMp4Duration,
  withMp4OverlappingRuns,
  withMp4SampleEntry,
  withOggGranules,
  withWebmCodec,
  withWebmTimes,
  withWebmTracksLast,
} from '../../support/audio-fixtures';

/**
 * FLAC, Ogg (Opus and Vorbis), MP4/M4A and WebM measured from their data: 30 s of a 440 Hz tone
 * encoded by FFmpeg (test/fixtures/audio/README.md), then the same data under headers that declare
 * 1 s, an hour, nothing or the largest value their fields hold. The measure never moves with them.
 */

/** The seconds each fixture's data decodes to, by its codec's frames (the README's figures). */
const DATA_SECONDS: Record<AudioFixture, number> = {
  flac: 30, // 480,000 samples at 16 kHz in 118 frames
  oggOpus: (1_501 * 960 - 312) / 48_000, // 1,501 packets of 20 ms, less the 312-sample pre-skip
  oggVorbis: 30.016,
  m4a: (470 * 1_024) / 16_000, // 470 AAC frames, the encoder's priming and padding included
  fragmentedMp4: (470 * 1_024) / 16_000,
  webmOpus: (1_501 * 960 - 312) / 48_000,
  webmVorbis: 30.016,
  webmLive: (1_501 * 960 - 312) / 48_000,
  mkvAac: (470 * 1_024) / 16_000,
};
/** What FFmpeg 5.1 decodes each fixture to (it trims priming and padding that we bill). */
const FFMPEG_DECODED_SECONDS: Record<AudioFixture, number> = {
  flac: 30,
  oggOpus: 30,
  oggVorbis: 30,
  m4a: 30.016,
  fragmentedMp4: 30.08,
  webmOpus: 30,
  webmVorbis: 30.016,
  webmLive: 30,
  mkvAac: 30.08,
};
const FORMATS: Record<AudioFixture, string> = {
  flac: 'flac',
  oggOpus: 'ogg',
  oggVorbis: 'ogg',
  m4a: 'm4a',
  fragmentedMp4: 'mp4',
  webmOpus: 'webm',
  webmVorbis: 'webm',
  webmLive: 'webm',
  mkvAac: 'webm',
};
const ALL = Object.keys(AUDIO_FIXTURES) as AudioFixture[];

/** The duration a header reader (music-metadata) takes from the file: the header's word. */
async function declaredSeconds(bytes: Buffer): Promise<number | undefined> {
  return (await parseBuffer(bytes, { size: bytes.length }, { duration: true })).format.duration;
}

const refusal = { status: 400, param: 'file', code: 'invalid_file' };

/**
 * The 32-bit reads of the file (`DataView.getUint32`) that `work` makes, all and little-endian
 * ones (Ogg's CRC fields): a count of the work done, where a CPU time fails on a loaded machine.
 */
async function uint32ReadsDuring(
  work: () => Promise<unknown>,
): Promise<{ all: number; littleEndian: number }> {
  const original = Object.getOwnPropertyDescriptor(DataView.prototype, 'getUint32');
  const reads = { all: 0, littleEndian: 0 };
  const read = DataView.prototype.getUint32;
  DataView.prototype.getUint32 = function (this: DataView, at: number, littleEndian?: boolean) {
    reads.all += 1;
    if (littleEndian) reads.littleEndian += 1;
    return read.call(this, at, littleEndian);
  };
  try {
    await work();
  } finally {
    if (original) Object.defineProperty(DataView.prototype, 'getUint32', original);
  }
  return reads;
}

describe('FLAC, Ogg, MP4/M4A and WebM billed by the audio their data holds', () => {
  it.each(ALL)('measures %s by its frames, within 0.1 s of what FFmpeg decodes', async (name) => {
    const measured = await measureAudio(audioFixture(name));
    expect(measured.format).toBe(FORMATS[name]);
    expect(measured.seconds).toBeCloseTo(DATA_SECONDS[name], 6);
    expect(Math.abs(measured.seconds - FFMPEG_DECODED_SECONDS[name])).toBeLessThanOrEqual(0.1);
  });

  it('bills FLAC by its frames whatever STREAMINFO declares (1 s, an hour, 0 = unknown, 2^36 - 1)', async () => {
    const flac = audioFixture('flac');
    for (const samples of [16_000, 3_600 * 16_000, 0, 2 ** 36 - 1]) {
      const lying = withFlacTotalSamples(flac, samples);
      // A header reader takes the 1 s and the hour at their word.
      if (samples === 16_000 || samples === 3_600 * 16_000)
        expect(await declaredSeconds(lying)).toBe(samples / 16_000);
      expect((await measureAudio(lying)).seconds).toBe(30);
    }
  });

  it('bills Ogg Opus and Vorbis by their packets whatever the granule positions declare', async () => {
    const cases = [
      { name: 'oggOpus' as const, rate: 48_000, start: 312 },
      { name: 'oggVorbis' as const, rate: 16_000, start: 0 },
    ];
    for (const { name, rate, start } of cases) {
      const ogg = audioFixture(name);
      // The header pages keep granule 0; the audio pages climb to 1 s, to an hour, or all lie
      // at the largest value (or -1, "no packet ends here").
      const lies: ((old: bigint, index: number, count: number) => bigint)[] = [
        (old, index, count) =>
          old <= 0n ? old : BigInt(start + Math.round((rate * (index + 1)) / count)),
        (old, index, count) =>
          old <= 0n ? old : BigInt(start + Math.round((3_600 * rate * (index + 1)) / count)),
        (old) => (old <= 0n ? old : 2n ** 62n),
        (old) => (old <= 0n ? old : -1n),
      ];
      for (const lie of lies) {
        const lying = withOggGranules(ogg, lie);
        expect((await measureAudio(lying)).seconds).toBeCloseTo(DATA_SECONDS[name], 6);
      }
      const oneSecond = withOggGranules(ogg, lies[0] as (typeof lies)[0]);
      expect(await declaredSeconds(oneSecond)).toBeCloseTo(1, 6);
    }
  });

  it('bills MP4/M4A by its AAC frames whatever mvhd, mdhd and stts declare', async () => {
    for (const name of ['m4a', 'fragmentedMp4'] as const) {
      for (const seconds of [1, 3_600, 0]) {
        const lying = withMp4Duration(audioFixture(name), seconds);
        expect((await measureAudio(lying)).seconds).toBeCloseTo(DATA_SECONDS[name], 6);
      }
    }
    expect(await declaredSeconds(withMp4Duration(audioFixture('m4a'), 1))).toBe(1);
  });

  it('bills WebM by its blocks whatever Duration and the timestamps declare', async () => {
    for (const name of ['webmOpus', 'webmVorbis', 'webmLive', 'mkvAac'] as const) {
      for (const durationSeconds of [1, 3_600, 0]) {
        const lying = withWebmTimes(audioFixture(name), { durationSeconds, zeroTimestamps: true });
        expect((await measureAudio(lying)).seconds).toBeCloseTo(DATA_SECONDS[name], 6);
      }
    }
    const oneSecond = withWebmTimes(audioFixture('webmOpus'), { durationSeconds: 1 });
    expect(await declaredSeconds(oneSecond)).toBe(1);
  });

  it.each(ALL)('bills a truncated %s by the part that is there', async (name) => {
    const whole = audioFixture(name);
    const half = await measureAudio(whole.subarray(0, Math.floor(whole.length / 2)));
    expect(half.seconds).toBeGreaterThan(DATA_SECONDS[name] * 0.3);
    expect(half.seconds).toBeLessThan(DATA_SECONDS[name] * 0.7);
    // Cut inside the headers, before any audio: nothing to bill, a 400.
    await expect(measureAudio(whole.subarray(0, 60))).rejects.toMatchObject(refusal);
  });

  it('bills WebM blocks read before a Tracks element placed after the clusters', async () => {
    const tracksLast = withWebmTracksLast(audioFixture('webmOpus'));
    expect((await measureAudio(tracksLast)).seconds).toBeCloseTo(DATA_SECONDS.webmOpus, 6);
  });

  it('counts both halves of two Ogg or WebM files end to end, as FFmpeg plays them (60 s)', async () => {
    for (const name of ['oggOpus', 'oggVorbis', 'webmOpus', 'webmVorbis'] as const) {
      const twice = Buffer.concat([audioFixture(name), audioFixture(name)]);
      // The second file's Tracks names track 1 again: it must not restart the first's count. In
      // WebM the second file's blocks join the first's track, so its pre-skip (6.5 ms) or first
      // Vorbis packet is billed too.
      const seconds = (await measureAudio(twice)).seconds;
      expect(seconds).toBeGreaterThanOrEqual(2 * DATA_SECONDS[name] - 1e-9);
      expect(seconds).toBeLessThan(2 * DATA_SECONDS[name] + 0.1);
    }
  });

  it('refuses a codec it cannot count, naming it, rather than trust a header', async () => {
    await expect(
      measureAudio(withMp4SampleEntry(audioFixture('m4a'), 'alac')),
    ).rejects.toMatchObject({
      ...refusal,
      message: expect.stringContaining('MP4 audio in alac'),
    });
    await expect(
      measureAudio(withWebmCodec(audioFixture('webmOpus'), 'A_AC3_')),
    ).rejects.toMatchObject({
      ...refusal,
      message: expect.stringContaining('WebM audio in A_AC3_'),
    });
    // An Ogg stream whose first packet is not OpusHead or Vorbis's (Speex, FLAC in Ogg).
    const ogg = Buffer.from(audioFixture('oggOpus'));
    ogg.write('SpeexHd', ogg.indexOf('OpusHead', 0, 'latin1'), 'latin1');
    const renamed = withOggGranules(ogg, (old) => old); // the CRC redone over the new bytes
    await expect(measureAudio(renamed)).rejects.toMatchObject({
      ...refusal,
      message: expect.stringContaining('codec other than Opus or Vorbis'),
    });
  });

  it('answers a structure a walker reads past (a fragment header cut short) with a 400, not a 5xx', async () => {
    const mp4 = Buffer.from(audioFixture('fragmentedMp4'));
    const tfhd = mp4.indexOf('tfhd', 0, 'latin1') + 4; // its payload: version, flags, track id
    mp4[tfhd + 3] = (mp4[tfhd + 3] as number) | 0x01; // a 64-bit base data offset follows
    await expect(measureAudio(mp4.subarray(0, tfhd + 10))).rejects.toMatchObject({
      ...refusal,
      message: expect.stringContaining('mp4 structure could not be walked'),
    });
  });

  it('walks each MP4 chunk once: sample-to-chunk runs that overlap cost no more CPU than the table holds', async () => {
    // 1 MB of runs alternating between chunk 1 and past the last chunk, each over 130,000 chunks:
    // walked run by run, 5.6e9 chunk visits (30 s of CPU; a 25 MB file, hours).
    const crafted = withMp4OverlappingRuns(audioFixture('m4a'), 43_000, 131_000);
    expect(crafted.length).toBeGreaterThan(1_000_000);
    // Every chunk lies past the end of the file: nothing a decoder plays, so a 400.
    const reads = await uint32ReadsDuring(() =>
      expect(measureAudio(crafted)).rejects.toMatchObject(refusal),
    );
    // Each run and chunk read a few times, fewer reads than the file has bytes: walked run by run,
    // billions.
    expect(reads.all).toBeLessThan(crafted.length);
  });

  it('refuses Ogg capture patterns that fail their checksums over more than the file, before CRC-ing each', async () => {
    // A page header every 282 bytes, each declaring 255 segments of 255 bytes and none whose CRC
    // holds: checked one by one, 25 MB cost 6 GB of CRC-32 (10 s of CPU) for a 400.
    const header = Buffer.alloc(27 + 255, 0xff);
    header.write('OggS', 0, 'latin1');
    header.fill(0, 4, 6); // version 0, no flags
    header[26] = 255;
    const crafted = Buffer.concat(Array(Math.floor(25_000_000 / header.length)).fill(header));
    const reads = await uint32ReadsDuring(() =>
      expect(measureAudio(crafted)).rejects.toMatchObject({
        ...refusal,
        message: expect.stringContaining('fail their checksums'),
      }),
    );
    // One CRC field read (little-endian) a page CRC-ed: the pages CRC-ed hold at most the file's
    // length and one page more, not the 88,000 pages (6 GB) of checking each.
    const pageBytes = 27 + 255 + 255 * 255;
    expect(reads.littleEndian * pageBytes).toBeLessThanOrEqual(crafted.length + pageBytes);
    expect(reads.littleEndian).toBeGreaterThan(0);
  });

  it('keeps every bill whatever duration the headers declare (a property over the declared values)', async () => {
    const flac = audioFixture('flac');
    const ogg = audioFixture('oggOpus');
    const m4a = audioFixture('m4a');
    const webm = audioFixture('webmVorbis');
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 2 ** 36 - 1 }),
        fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }),
        fc.double({ min: 0, max: 1e7, noNaN: true }),
        fc.boolean(),
        async (samples, granule, seconds, zeroTimestamps) => {
          const measure = async (bytes: Buffer) => (await measureAudio(bytes)).seconds;
          expect(await measure(withFlacTotalSamples(flac, samples))).toBe(30);
          const lyingOgg = withOggGranules(ogg, (old) => (old <= 0n ? old : granule));
          expect(await measure(lyingOgg)).toBeCloseTo(DATA_SECONDS.oggOpus, 6);
          expect(await measure(withMp4Duration(m4a, seconds))).toBeCloseTo(DATA_SECONDS.m4a, 6);
          const lyingWebm = withWebmTimes(webm, { durationSeconds: seconds, zeroTimestamps });
          expect(await measure(lyingWebm)).toBeCloseTo(DATA_SECONDS.webmVorbis, 6);
        },
      ),
      { seed: 24, numRuns: 40 },
    );
  });

  it.each(ALL)(
    'answers %s with any bytes overwritten or cut with a duration or a 400, never a crash',
    async (name) => {
      const base = audioFixture(name);
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.nat({ max: 255 })), {
            minLength: 1,
            maxLength: 16,
          }),
          fc.nat({ max: base.length }),
          async (writes, cut) => {
            const bytes = Buffer.from(base.subarray(0, Math.max(cut, 4)));
            // Half the writes land in the first 512 bytes, where the headers are.
            for (const [at, value] of writes) {
              const where = at % 2 === 0 ? at % 512 : at;
              if (where < bytes.length) bytes[where] = value;
            }
            const outcome = await measureAudio(bytes).then(
              (measured) => ({ seconds: measured.seconds, status: 200 }),
              (error: { status?: number }) => ({ seconds: 1, status: error.status }),
            );
            expect(outcome.status === 200 || outcome.status === 400).toBe(true);
            expect(Number.isFinite(outcome.seconds) && outcome.seconds > 0).toBe(true);
          },
        ),
        { seed: 24, numRuns: 150 },
      );
    },
  );
});
