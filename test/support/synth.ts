import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { loadConfig } from '../../lib/config/load';
import type { TierlineConfig } from '../../lib/config/schema';
import { createApp, type TierlineStacks } from '../../lib/create-app';
import { cacheKey, readOrProduce } from './synth-cache';

// The feature flags of cdk.json, so tests synthesize exactly what `cdk synth` does.
const cdkJsonContext: Record<string, unknown> = require(
  path.join(__dirname, '..', '..', 'cdk.json'),
).context;

/** One stack's template as CloudFormation receives it. */
export interface StackTemplate {
  /** The stack's construct path, unique in the app. */
  path: string;
  /** The stack's name; a nested stack (whose name CloudFormation makes) goes by its path. */
  name: string;
  nested: boolean;
  // biome-ignore lint/suspicious/noExplicitAny: a CloudFormation template, as Template.fromJSON takes it
  template: Record<string, any>;
}

/** What the template cache keeps of one configuration's synthesis. */
interface SynthesisEntry {
  /** Top-level stacks first, in `TierlineStacks` order, then nested stacks. */
  templates: StackTemplate[];
  /** The construct path of each of `TierlineStacks`' stacks. */
  paths: { data: string; api: string; inference: string };
}

/**
 * One configuration of the app. Its templates are synthesized once per configuration and source
 * tree and shared by every test file (`synth-cache.ts`); its constructs (`app`, `stacks`) are built
 * and synthesized in this file only when a test reads them.
 */
export interface SynthesizedApp {
  config: TierlineConfig;
  /** The app, synthesized. */
  app: App;
  stacks: TierlineStacks;
  data: Template;
  api: Template;
  inference: Template;
  /** Every stack's template, the nested stacks' included. */
  templates: readonly StackTemplate[];
  /** The template of one stack of this app (`stacks`' or a nested one). */
  template(stack: Stack): Template;
}

interface Built {
  app: App;
  stacks: TierlineStacks;
}

/**
 * Constructs the app and synthesizes it. CDK's built-in CloudFormation validation (cdk.json makes
 * its findings errors) runs wherever an entry is produced; a synthesis of a configuration the
 * cache already holds skips it, as the entry was validated when it was written, and is compared
 * with the entry instead.
 */
function build(config: TierlineConfig, options: { bundle?: boolean; validate: boolean }): Built {
  const app = new App({
    context: { ...cdkJsonContext, ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }) },
    builtinCloudFormationValidation: options.validate,
  });
  const stacks = createApp(app, config);
  app.synth();
  return { app, stacks };
}

function entryOf({ app, stacks }: Built): SynthesisEntry {
  const assembly = app.synth();
  const topLevel = Object.values(stacks).filter((s): s is Stack => s !== undefined);
  const nested = app.node.findAll().filter((c): c is Stack => Stack.isStack(c) && c.nested);
  return {
    templates: [
      ...topLevel.map((stack) => ({
        path: stack.node.path,
        name: stack.stackName,
        nested: false,
        template: assembly.getStackArtifact(stack.artifactId).template,
      })),
      ...nested.map((stack) => ({
        path: stack.node.path,
        name: stack.node.path,
        nested: true,
        template: JSON.parse(
          readFileSync(path.join(assembly.directory, stack.templateFile), 'utf8'),
        ),
      })),
    ],
    paths: {
      data: stacks.data.node.path,
      api: stacks.api.node.path,
      inference: stacks.inference.node.path,
    },
  };
}

/**
 * JSON with every object's keys sorted. The order of a stack's cross-stack `Outputs` depends on
 * what the process synthesized before (measured: prod's second synthesis in one process lists the
 * Data stack's exports in another order than its first). Key order means nothing to
 * CloudFormation; array order is kept, and compared.
 */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item && typeof item === 'object' && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  );
}

class CachedSynthesis implements SynthesizedApp {
  private built: Built | undefined;
  private readonly parsed = new Map<string, Template>();

  private readonly entry: SynthesisEntry;

  /** `text`: the entry as cached, kept to compare a synthesis here with (tests may edit `entry`). */
  constructor(
    public readonly config: TierlineConfig,
    private readonly text: string,
    built?: Built,
  ) {
    this.entry = JSON.parse(text);
    this.built = built;
  }

  get app(): App {
    return this.constructs().app;
  }

  get stacks(): TierlineStacks {
    return this.constructs().stacks;
  }

  get data(): Template {
    return this.templateAt(this.entry.paths.data);
  }

  get api(): Template {
    return this.templateAt(this.entry.paths.api);
  }

  get inference(): Template {
    return this.templateAt(this.entry.paths.inference);
  }

  get templates(): readonly StackTemplate[] {
    return this.entry.templates;
  }

  template(stack: Stack): Template {
    return this.templateAt(stack.node.path);
  }

  private templateAt(stackPath: string): Template {
    let template = this.parsed.get(stackPath);
    if (!template) {
      const found = this.entry.templates.find((t) => t.path === stackPath);
      if (!found) throw new Error(`no stack at ${stackPath} in this app`);
      template = Template.fromJSON(found.template);
      this.parsed.set(stackPath, template);
    }
    return template;
  }

  /** The constructs, built on first use, whose templates must be the cached ones. */
  private constructs(): Built {
    if (this.built) return this.built;
    const built = build(this.config, { validate: false });
    if (canonical(entryOf(built)) !== canonical(JSON.parse(this.text))) {
      throw new Error(
        `the shared templates of the ${this.config.environment.name} configuration differ from ` +
          'its synthesis here: an input of synthesis is missing from the key in ' +
          'test/support/synth-cache.ts, or synthesis is not deterministic',
      );
    }
    this.built = built;
    return built;
  }
}

/** Per test file: a configuration asked for twice in one file is the same object. */
const synthesized = new Map<string, SynthesizedApp>();

/**
 * The whole app for one environment, without bundling the functions (fast). A config error is
 * thrown at once; so is an error of synthesis, as a configuration that fails is never cached.
 */
export function synthesize(
  options: { env?: string; overrides?: unknown; bundle?: boolean } = {},
): SynthesizedApp {
  const config = loadConfig({ env: options.env ?? 'dev', overrides: options.overrides });
  if (options.bundle) {
    // Bundled assets are written to this app's own output folder: never shared.
    const built = build(config, { bundle: true, validate: true });
    return new CachedSynthesis(config, JSON.stringify(entryOf(built)), built);
  }
  const key = cacheKey(config);
  const known = synthesized.get(key);
  if (known) return known;
  const { text, extra } = readOrProduce(key, () => {
    const built = build(config, { validate: true });
    return { text: JSON.stringify(entryOf(built)), extra: built };
  });
  const app = new CachedSynthesis(config, text, extra);
  synthesized.set(key, app);
  return app;
}

/**
 * Every statement a role is granted in a template: its inline policies and the managed policies
 * CDK moves a role's statements into once its inline policy is full (`…OverflowPolicy…`).
 */
export function roleStatements(template: Template, roleLogicalId: string) {
  return ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy']
    .flatMap((type) => Object.values(template.findResources(type)))
    .filter((p) => JSON.stringify(p.Properties.Roles).includes(roleLogicalId))
    .flatMap(
      (p) =>
        p.Properties.PolicyDocument.Statement as {
          Sid?: string;
          Action: string | string[];
          Resource: unknown;
          Condition?: unknown;
        }[],
    );
}
