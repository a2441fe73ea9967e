import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { loadConfig } from '../../lib/config/load';
import { createApp } from '../../lib/create-app';
import { MANAGED_INSTANCES } from '../support/config-variants';

interface ValidationReport {
  pluginReports: {
    pluginName: string;
    violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[];
    suppressedViolations: { ruleName: string; reason: string; acknowledgedAt: string }[];
  }[];
}

const cdkJsonContext = require(path.join(__dirname, '..', '..', 'cdk.json')).context;

function nagReport(env: string, overrides?: unknown): ValidationReport {
  const outdir = mkdtempSync(path.join(tmpdir(), 'tierline-nag-'));
  const app = new App({ outdir, context: { ...cdkJsonContext, 'aws:cdk:bundling-stacks': [] } });
  createApp(app, loadConfig({ env, overrides }));
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  try {
    app.synth();
  } catch {
    // Violations make synth fail; the report below says which.
  }
  return JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
}

describe.each([
  ['dev', undefined],
  ['prod', undefined],
  ['prod (chat on Managed Instances)', MANAGED_INSTANCES],
])('cdk-nag on the %s app', (label, overrides) => {
  const report = nagReport(label.split(' ')[0] ?? label, overrides);

  it('runs the AwsSolutions and Serverless packs', () => {
    expect(report.pluginReports.map((r) => r.pluginName).sort()).toEqual([
      'AwsSolutions',
      'Serverless',
    ]);
  });

  it('has no unacknowledged finding', () => {
    const findings = report.pluginReports.flatMap((r) =>
      r.violations.flatMap((v) =>
        v.violatingConstructs.map((c) => `${v.ruleName} at ${c.constructPath}`),
      ),
    );
    expect(findings).toEqual([]);
  });

  it('gives a reason for every acknowledgement, at a construct below the stack', () => {
    const acknowledged = report.pluginReports.flatMap((r) => r.suppressedViolations);
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const finding of acknowledged) {
      expect(finding.reason.length).toBeGreaterThan(30);
      expect(finding.acknowledgedAt.split('/').length).toBeGreaterThan(2);
    }
  });
});
