import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { ConfigError, deepMerge, loadConfig, readConfigFile } from '../lib/config/load';
import { createApp } from '../lib/create-app';

const app = new App();
const envName = String(app.node.tryGetContext('env') ?? 'dev');
// Optional JSON file of overrides, merged field by field over the environment (`-c
// configFile=tiers.json`).
const configFile: unknown = app.node.tryGetContext('configFile');
// Optional region (`-c region=eu-west-1`), as `environment.region` of a config file. Neither
// CDK_DEFAULT_REGION nor CDK_DEFAULT_ACCOUNT is read: the CLI sets the region to us-east-1 when
// nothing names one, which would be baked into every ARN, and a known account would make the VPC
// look its zones up online at synth.
const region: unknown = app.node.tryGetContext('region');

try {
  const file = typeof configFile === 'string' ? configFile : undefined;
  const fromFile = file ? readConfigFile(file) : undefined;
  const overrides =
    typeof region === 'string' ? deepMerge(fromFile, { environment: { region } }) : fromFile;
  const config = loadConfig({ env: envName, overrides, overridesSource: file });
  createApp(app, config);
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}

Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
