import { Match } from 'aws-cdk-lib/assertions';
import { MAIL_CONFIGURATION_SET_ENV, MAIL_FROM_ENV } from '../../lambda/mail/mail';
import { MAIL_WITH_CONFIGURATION_SET } from '../support/config-variants';
import { synthesize } from '../support/synth';

type Statement = { Action: unknown; Resource: unknown; Effect: string };
type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

/** Every `ses:*` statement of the Api stack's policies, with the roles each policy is on. */
function sesStatements(resources: Resources) {
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .flatMap((policy) => {
      const document = policy.Properties.PolicyDocument as { Statement: Statement[] };
      return document.Statement.filter((s) => JSON.stringify(s.Action).includes('ses:')).map(
        (statement) => ({ statement, roles: policy.Properties.Roles }),
      );
    });
}

/**
 * Mail through SES in the template: with `mail` in the config, the API, chat and batch-worker
 * functions (invites, spend alerts), Stripe's webhook and the hourly billing run (notices) may
 * `ses:SendEmail` from exactly the configured identity (and configuration set) and have the sender
 * in their environment; without it, no function may send.
 */
describe('e-mail infrastructure', () => {
  it('grants SendEmail on exactly the identity and the configuration set, to the five functions that send', () => {
    const { api, stacks } = synthesize({ overrides: { mail: MAIL_WITH_CONFIGURATION_SET } });
    const roleOf = (fn: { role?: { node: { defaultChild?: unknown } } }) => ({
      Ref: stacks.api.getLogicalId(fn.role?.node.defaultChild as never),
    });
    const senders = [
      stacks.api.api.apiFunction.function,
      stacks.api.api.chatFunction.function,
      stacks.api.batches.worker.function,
      stacks.api.billing.webhook.function,
      stacks.api.billing.sender.function,
    ];
    const arn = (resource: string) => ({
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':ses:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          `:${resource}`,
        ],
      ],
    });

    const statements = sesStatements(api.toJSON().Resources as Resources);
    // CDK orders a statement's resources itself: compared as a set.
    const sorted = (resources: unknown) =>
      (resources as unknown[]).map((r) => JSON.stringify(r)).sort();
    expect(
      statements.map((s) => ({ ...s.statement, Resource: sorted(s.statement.Resource) })),
    ).toEqual(
      senders.map(() => ({
        Action: 'ses:SendEmail',
        Effect: 'Allow',
        Resource: sorted([arn('identity/example.com'), arn('configuration-set/tierline-mail')]),
      })),
    );
    expect(statements.map((s) => s.roles)).toEqual(
      expect.arrayContaining(senders.map((fn) => [roleOf(fn)])),
    );
    for (const fn of senders) {
      api.hasResourceProperties('AWS::Lambda::Function', {
        Role: { 'Fn::GetAtt': [roleOf(fn).Ref, 'Arn'] },
        Environment: {
          Variables: Match.objectLike({
            [MAIL_FROM_ENV]: 'Tierline <no-reply@mail.example.com>',
            [MAIL_CONFIGURATION_SET_ENV]: 'tierline-mail',
          }),
        },
      });
    }
    const sendingFunctions = Object.values(api.findResources('AWS::Lambda::Function')).filter(
      (fn) => JSON.stringify(fn.Properties?.Environment ?? {}).includes(MAIL_FROM_ENV),
    );
    expect(sendingFunctions).toHaveLength(senders.length);
  });

  it('grants no SES action and names no sender without mail in the config', () => {
    const { api } = synthesize();
    expect(sesStatements(api.toJSON().Resources as Resources)).toEqual([]);
    expect(JSON.stringify(api.toJSON())).not.toContain(MAIL_FROM_ENV);
  });
});
