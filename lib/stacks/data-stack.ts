import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { TierlineConfig } from '../config/schema';
import { ConsoleUsers } from '../constructs/accounts/console-users';
import { CustomersTable } from '../constructs/customers-table';
import { FilesStore } from '../constructs/files/files-store';
import { FineTuningStore } from '../constructs/fine-tuning/fine-tuning-store';
import { LedgerDeadLetters } from '../constructs/metering/ledger-dead-letters';
import { MeteringTable } from '../constructs/metering/metering-table';

export interface DataStackProps extends StackProps {
  readonly config: TierlineConfig;
}

/**
 * Stateful resources only (tables, the files bucket, the ledger's dead letters), so the stateless
 * API and the GPU inference stack can be replaced or torn down without touching data. Termination
 * protection and retained data in production.
 */
export class DataStack extends Stack {
  public readonly customers: CustomersTable;
  public readonly metering: MeteringTable;
  public readonly ledgerDeadLetters: LedgerDeadLetters;
  public readonly files: FilesStore;
  public readonly fineTuning: FineTuningStore;
  /** The people who sign in to the console (a Cognito user pool). */
  public readonly consoleUsers: ConsoleUsers;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, {
      ...props,
      terminationProtection: props.config.environment.terminationProtection,
    });
    this.customers = new CustomersTable(this, 'Customers', {
      retainData: props.config.environment.retainData,
    });
    this.metering = new MeteringTable(this, 'Metering', {
      retainData: props.config.environment.retainData,
    });
    this.ledgerDeadLetters = new LedgerDeadLetters(this, 'LedgerDeadLetters', {
      retainData: props.config.environment.retainData,
    });
    this.files = new FilesStore(this, 'Files', {
      environmentName: props.config.environment.name,
      retainData: props.config.environment.retainData,
    });
    this.fineTuning = new FineTuningStore(this, 'FineTuning', {
      environmentName: props.config.environment.name,
      retainData: props.config.environment.retainData,
    });
    this.consoleUsers = new ConsoleUsers(this, 'ConsoleUsers', {
      retainData: props.config.environment.retainData,
    });
  }
}
