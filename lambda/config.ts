import type { TierlineConfig } from '../lib/config/schema';

// Replaced at bundling time with the resolved, validated config of the environment being deployed
// (esbuild `define` in TierlineFunction), so a function enforces exactly what `cdk synth` checked,
// and the config loader and its schema stay out of the bundle. Tests and local mode pass a config
// explicitly.
declare const __TIERLINE_CONFIG__: TierlineConfig | undefined;

export function bundledConfig(): TierlineConfig {
  if (typeof __TIERLINE_CONFIG__ === 'undefined') {
    throw new Error(
      'No bundled Tierline config: this entry point only runs from a TierlineFunction bundle.',
    );
  }
  return __TIERLINE_CONFIG__;
}
