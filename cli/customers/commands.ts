import { type Command, InvalidArgumentError, Option } from 'commander';
import type { CustomerRecord } from '../../lambda/customers/customers-repository';
import { TIER_NAMES } from '../../lib/config/schema';
import { type CommandRunner, positiveInteger } from '../command-runner';
import { month, thisMonth } from '../usage/billing-commands';
import { overviewJson, overviewText } from './customer-overview';

/** What an operator may see of a customer: never a key hash. */
export function customerView(customer: CustomerRecord) {
  const {
    keyHash: _hash,
    pendingKeyHash: _pending,
    previousKeyHash: _previous,
    ...view
  } = customer;
  return view;
}

export function describeCustomer(customer: CustomerRecord, withCustomPlan = true): string {
  const lines = [
    `${customer.customerId}  ${customer.name} <${customer.email}>`,
    `  tier: ${customer.tier}${customer.customPlan ? ' (custom plan)' : ''}   status: ${customer.status}`,
    `  key: ${customer.keyHint ?? '-'}   created: ${customer.createdAt}`,
  ];
  if (customer.spendLimitUsd !== undefined)
    lines.push(`  spend limit: $${customer.spendLimitUsd} per month`);
  if (customer.deletedAt) lines.push(`  deleted: ${customer.deletedAt}`);
  // Which edge bucket the customer's requests share (docs/operating.md, "Past 10,000 customers").
  if (customer.sharedUsageKey) lines.push(`  edge: shares pool key ${customer.sharedUsageKey}`);
  if (customer.customPlan && withCustomPlan) {
    const { edge, models } = customer.customPlan;
    lines.push(
      `  edge: ${edge.rateLimit} req/s, burst ${edge.burstLimit}${edge.quota ? `, quota ${edge.quota.limit}/${edge.quota.period}` : ''}`,
    );
    for (const [model, l] of Object.entries(models)) {
      lines.push(`  ${model}: ${l.rpm} RPM, ${l.rpd} RPD, ${l.tpm} TPM, ${l.tpd} TPD`);
    }
  }
  return lines.join('\n');
}

/** `tierline customers ...` */
export function addCustomerCommands(program: Command, runner: CommandRunner): void {
  const customers = program
    .command('customers')
    .description('create and manage customers and their API keys');
  // In this order in `--help`.
  addCustomerRecordCommands(customers, runner);
  addCustomerLifecycleCommands(customers, runner);
  addCustomerAccessCommands(customers, runner);
}

/** `customers create`, `list`, `show`: a customer's record, its plan and its month. */
function addCustomerRecordCommands(customers: Command, { run, print }: CommandRunner): void {
  customers
    .command('create')
    .description(
      'create a customer with an API key (shown once); re-running with the same e-mail changes nothing',
    )
    .requiredOption('--name <name>', 'customer or company name')
    .requiredOption('--email <email>', 'contact e-mail (unique per customer)')
    .addOption(new Option('--tier <tier>', 'tier').choices([...TIER_NAMES]).makeOptionMandatory())
    .action((options: { name: string; email: string; tier: string }, command: Command) =>
      run(command, async (operator, json) => {
        const result = await operator.createCustomer(options);
        const view = {
          created: result.created,
          customer: customerView(result.customer),
          api_key: result.apiKey,
        };
        const text = result.created
          ? `Created ${describeCustomer(result.customer)}\n\nAPI key (shown once, store it now):\n  ${result.apiKey}`
          : `A customer with this e-mail already exists; nothing changed (use "customers rotate-key" for a new key):\n${describeCustomer(result.customer)}`;
        print(json, view, text);
      }),
    );

  customers
    .command('list')
    .description('list customers, oldest first')
    .option('--limit <n>', 'page size', positiveInteger, 100)
    .option('--cursor <cursor>', 'continue after a previous page')
    .action((options: { limit: number; cursor?: string }, command: Command) =>
      run(command, async (operator, json) => {
        const page = await operator.listCustomers(options);
        const text = page.customers.length
          ? page.customers
              .map(
                (c) =>
                  `${c.customerId}  ${c.tier.padEnd(10)}  ${c.status.padEnd(8)}  ${c.name} <${c.email}>`,
              )
              .join('\n')
          : 'No customers.';
        print(
          json,
          { customers: page.customers.map(customerView), cursor: page.cursor ?? null },
          page.cursor ? `${text}\n(more: --cursor ${page.cursor})` : text,
        );
      }),
    );

  customers
    .command('show')
    .description(
      "show one customer: tier, status, its plan's limits per model, spend limit, and a month's usage and spend",
    )
    .argument('<customerId>')
    .option('--month <YYYY-MM>', 'the UTC month of the usage (default: this one)', month)
    .action((customerId: string, options: { month?: string }, command: Command) =>
      run(command, async (operator, json) => {
        const overview = await operator.showCustomer(customerId, options.month ?? thisMonth());
        print(
          json,
          overviewJson(overview, customerView(overview.customer)),
          `${describeCustomer(overview.customer, false)}\n${overviewText(overview)}`,
        );
      }),
    );
}

/** `customers reactivate`, `delete`: bringing a revoked customer back, and erasing one. */
function addCustomerLifecycleCommands(customers: Command, { run, print }: CommandRunner): void {
  customers
    .command('reactivate')
    .description(
      'give a revoked customer a new API key (shown once) and its tier usage plan back; named keys stay revoked',
    )
    .argument('<customerId>')
    .action((customerId: string, _options: unknown, command: Command) =>
      run(command, async (operator, json) => {
        const result = await operator.reactivate(customerId);
        const plan =
          result.customer.tier === 'enterprise'
            ? '\nAn Enterprise custom plan is not restored: run "plans create-custom" again if it had one.'
            : '';
        print(
          json,
          { customer: customerView(result.customer), api_key: result.apiKey },
          `Reactivated ${customerId} on the ${result.customer.tier} plan.${plan}\n\nAPI key (shown once, store it now):\n  ${result.apiKey}`,
        );
      }),
    );

  for (const [name, description] of [
    [
      'suspend',
      "stop a customer's keys and console sessions, keeping everything (keys, members, files, usage); within the authorizer cache TTL",
    ],
    ['restore', "start a suspended customer's keys and console sessions again (the same keys)"],
  ] as const) {
    customers
      .command(name)
      .description(description)
      .argument('<customerId>')
      .action((customerId: string, _options: unknown, command: Command) =>
        run(command, async (operator, json) => {
          const result =
            name === 'suspend'
              ? await operator.suspend(customerId)
              : await operator.restore(customerId);
          const state = name === 'suspend' ? 'Suspended' : 'Restored';
          const when = `within ${result.takesEffectWithinSeconds} s (the authorizer cache TTL)`;
          print(
            json,
            {
              changed: result.changed,
              customer: customerView(result.customer),
              keys: result.keys,
              takes_effect_within_seconds: result.takesEffectWithinSeconds,
            },
            result.changed
              ? `${state} ${customerId} (${result.keys} keys); it takes effect ${when}.`
              : `${customerId} was ${name === 'suspend' ? 'suspended' : 'active'} already; ${result.keys} keys finished.`,
          );
        }),
      );
  }

  customers
    .command('delete')
    .description(
      'delete a customer: revoke its keys, remove its API Gateway key and plans, delete its files and batches, ' +
        'its members and invites, free its e-mail; its ledger and usage records are kept for billing ' +
        '(docs/operating.md: "Deleting a customer")',
    )
    .argument('<customerId>')
    .option('--yes', 'confirm the deletion (it cannot be undone)')
    .action((customerId: string, options: { yes?: boolean }, command: Command) =>
      run(command, async (operator, json) => {
        const result = await operator.deleteCustomer(customerId, {
          confirmed: options.yes === true,
        });
        const e = result.erased;
        const erased = e
          ? `${e.files} files, ${e.uploads} uploads, ${e.batches} batches, ${e.otherItems} other items and ${e.objects} stored objects removed`
          : 'nothing to remove';
        print(
          json,
          {
            deleted: result.deleted,
            customer: customerView(result.customer),
            erased: result.erased,
            people: result.people ?? null,
          },
          result.deleted
            ? `Deleted ${customerId} (${erased}); its e-mail is free. Ledger and usage records are kept.`
            : `${customerId} was already deleted; swept up again (${erased}).`,
        );
      }),
    );
}

/** `customers set-tier`, `rotate-key`, `revoke`, `spend-limit`: what a customer may use, and with what key. */
function addCustomerAccessCommands(customers: Command, { run, print }: CommandRunner): void {
  customers
    .command('set-tier')
    .description("move a customer to another tier's usage plan (drops a custom plan)")
    .argument('<customerId>')
    .argument('<tier>', `one of ${TIER_NAMES.join(', ')}`)
    .action((customerId: string, tier: string, _options: unknown, command: Command) =>
      run(command, async (operator, json) => {
        const result = await operator.setTier(customerId, tier);
        const text = result.changed
          ? `Moved ${customerId} to ${tier}.`
          : `${customerId} is already on ${tier}; nothing changed.`;
        print(json, { changed: result.changed, customer: customerView(result.customer) }, text);
      }),
    );

  customers
    .command('rotate-key')
    .description(
      'issue a new API key (shown once); the old key stops working within the authorizer cache TTL',
    )
    .argument('<customerId>')
    .action((customerId: string, _options: unknown, command: Command) =>
      run(command, async (operator, json) => {
        const result = await operator.rotateKey(customerId);
        print(
          json,
          { customer: customerView(result.customer), api_key: result.apiKey },
          `New API key for ${customerId} (shown once, store it now):\n  ${result.apiKey}`,
        );
      }),
    );

  customers
    .command('admin-key')
    .description(
      'issue an admin key (tl_admin_..., shown once) for the administration API; it cannot run inference',
    )
    .argument('<customerId>')
    .option('--name <name>', 'what the key is for', 'Operator admin key')
    .action((customerId: string, options: { name: string }, command: Command) =>
      run(command, async (operator, json) => {
        const result = await operator.createAdminKey(customerId, options.name);
        print(
          json,
          { id: result.id, admin_key: result.key },
          `Admin key ${result.id} for ${customerId} (shown once, store it now):\n  ${result.key}`,
        );
      }),
    );

  customers
    .command('revoke')
    .description(
      "revoke a customer's key and remove its API Gateway key; within the cache TTL it stops working",
    )
    .argument('<customerId>')
    .action((customerId: string, _options: unknown, command: Command) =>
      run(command, async (operator, json) => {
        const customer = await operator.revoke(customerId);
        print(json, customerView(customer), `Revoked ${customerId}.`);
      }),
    );

  customers
    .command('spend-limit')
    .description(
      "set a customer's monthly spend limit in USD, or 'none' to remove it (alerts at the tier's thresholds)",
    )
    .argument('<customerId>')
    .argument('<usd>', "monthly limit in USD, or 'none'", (value: string) => {
      if (value === 'none') return null;
      const usd = Number(value);
      if (!Number.isFinite(usd) || usd < 0)
        throw new InvalidArgumentError("must be a number of USD >= 0, or 'none'");
      return usd;
    })
    .action((customerId: string, usd: number | null, _options: unknown, command: Command) =>
      run(command, async (operator, json) => {
        const customer = await operator.setSpendLimit(customerId, usd);
        const warnings = await operator.spendLimitWarnings(customerId, usd);
        print(
          json,
          { ...customerView(customer), ...(warnings.length > 0 ? { warnings } : {}) },
          [
            usd === null
              ? `Removed the spend limit of ${customerId}.`
              : `Spend limit of ${customerId}: $${usd} per month.`,
            ...warnings,
          ].join('\n'),
        );
      }),
    );
}
