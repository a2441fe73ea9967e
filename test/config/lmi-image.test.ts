import { defaultConfig } from '../../lib/config/defaults';

/**
 * LMI's async vLLM handler (the one Tierline's backend speaks to) serves LoRA adapters from LMI v17
 * (djl-serving 0.35.0) on; LMI v15's async mode refuses them ("async mode does not support
 * multi-lora hosting").
 */
describe('the default LMI image', () => {
  it.each(Object.entries(defaultConfig.models))(
    'of %s is an LMI v17 or later, whose async handler serves adapters',
    (_id, model) => {
      const tag = /djl-inference:(\d+)\.(\d+)\.(\d+)-lmi(\d+)\.\d+\.\d+-cu\d+$/.exec(
        model.containerImage,
      );

      expect(tag).not.toBeNull();
      expect(Number(tag?.[4])).toBeGreaterThanOrEqual(17);
      expect(Number(tag?.[2])).toBeGreaterThanOrEqual(35);
    },
  );
});
