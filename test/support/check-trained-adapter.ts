/**
 * Tierline's own adapter check on an archive the training script wrote: run by the real training
 * test (training/lora/tests/test_real_training.py) as `tsx test/support/check-trained-adapter.ts
 * ARCHIVE CONFIG MODEL`.
 *
 * ARCHIVE is the script's adapter.tar.gz; CONFIG the tiny base model's Hugging Face config.json;
 * MODEL the catalog id the job trained for (its base_model hyperparameter). The dev config gets
 * MODEL as a trainable model with the tiny model's dimensions (a copy of a trainable default with
 * those changed), and the archive goes through the same readAdapterArchive + checkAdapter as `POST
 * /v1/fine_tunings` and the workflow's deploy step. Prints the checked adapter as JSON; exits 1
 * with the check's message when it refuses the adapter.
 */
import { readFileSync } from 'node:fs';
import { bufferSource, readAdapterArchive } from '../../lambda/fine-tuning/adapter-archive';
import { checkAdapter } from '../../lambda/fine-tuning/adapter-checks';
import { loadConfig } from '../../lib/config/load';

interface HuggingFaceConfig {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim?: number;
}

async function main(): Promise<void> {
  const [archivePath, configPath, modelId] = process.argv.slice(2);
  if (!archivePath || !configPath || !modelId)
    throw new Error('usage: check-trained-adapter ARCHIVE CONFIG MODEL');
  const hf = JSON.parse(readFileSync(configPath, 'utf8')) as HuggingFaceConfig;
  const config = loadConfig({ env: 'dev' });
  const trainable = Object.values(config.models).find(
    (m) => m.trainingInstanceType && m.architecture,
  );
  if (!trainable) throw new Error('the dev config has no trainable model to copy');
  config.models[modelId] = {
    ...trainable,
    weights: modelId,
    architecture: {
      hiddenSize: hf.hidden_size,
      intermediateSize: hf.intermediate_size,
      layers: hf.num_hidden_layers,
      attentionHeads: hf.num_attention_heads,
      keyValueHeads: hf.num_key_value_heads,
      headDim: hf.head_dim ?? hf.hidden_size / hf.num_attention_heads,
    },
  };
  const archive = await readAdapterArchive(bufferSource(readFileSync(archivePath)));
  process.stdout.write(`${JSON.stringify(checkAdapter(archive, modelId, config))}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(1);
});
