const AAC_RATES = [
  96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
  7_350,
];
/** MPEG-4 audio object types of the AAC family whose frames are 1024 or 960 samples. */
const AAC_OBJECT_TYPES = new Set([1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22]);

/** Reads bits most significant first (an AudioSpecificConfig's order). */
function bitReader(bytes: Uint8Array, from: number) {
  let position = from * 8;
  return (count: number) => {
    let value = 0;
    for (let i = 0; i < count; i++, position++)
      value = value * 2 + (((bytes[position >> 3] ?? 0) >> (7 - (position & 7))) & 1);
    return value;
  };
}

/**
 * The AAC core's sample rate and frame length of an AudioSpecificConfig (ISO 14496-3 1.6.2.1):
 * each AAC access unit decodes to that many samples at that rate. The rate is the one the decoder
 * uses (the container's own sample rate field is not read by it); SBR doubles the output rate,
 * not the time.
 */
export function aacFrames(config: Uint8Array): { rate: number; samples: number } | undefined {
  const read = bitReader(config, 0);
  const objectType = () => {
    const type = read(5);
    return type === 31 ? 32 + read(6) : type;
  };
  const frequency = () => {
    const index = read(4);
    return index === 15 ? read(24) : (AAC_RATES[index] ?? 0);
  };
  let type = objectType();
  const rate = frequency();
  read(4); // channel configuration
  if (type === 5 || type === 29) {
    frequency();
    type = objectType();
  }
  if (!AAC_OBJECT_TYPES.has(type) || rate === 0) return undefined;
  return { rate, samples: read(1) === 1 ? 960 : 1_024 };
}
