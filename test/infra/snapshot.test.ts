import { Template } from 'aws-cdk-lib/assertions';
import { synthesize } from '../support/synth';

// Asset hashes change with every handler edit; masking them keeps the snapshot about
// infrastructure.
expect.addSnapshotSerializer({
  test: (value) => typeof value === 'string' && /[0-9a-f]{64}/.test(value),
  print: (value) => JSON.stringify((value as string).replace(/[0-9a-f]{64}/g, '[HASH]')),
});

describe('whole app', () => {
  it('matches the committed snapshot (dev)', () => {
    const { data, api, inference, stacks } = synthesize();
    const freeKeyPool = stacks.api.usagePlans.pools.free;

    expect({
      data: data.toJSON(),
      api: api.toJSON(),
      inference: inference.toJSON(),
      freeKeyPool: freeKeyPool && Template.fromStack(freeKeyPool).toJSON(),
    }).toMatchSnapshot();
  });
});
