import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { ConfigError, loadConfig, readConfigFile } from '../lib/config/load';
import { createApp } from '../lib/create-app';

const app = new App();
const envName = String(app.node.tryGetContext('env') ?? 'dev');
// Optional JSON file of overrides, merged field by field over the environment (`-c configFile=tiers.json`).
const configFile: unknown = app.node.tryGetContext('configFile');

try {
  const file = typeof configFile === 'string' ? configFile : undefined;
  const overrides = file ? readConfigFile(file) : undefined;
  const config = loadConfig({ env: envName, overrides, overridesSource: file });
  createApp(app, config, {
    account: process.env.CDK_DEFAULT_ACCOUNT,
    region: process.env.CDK_DEFAULT_REGION,
  });
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}

Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
