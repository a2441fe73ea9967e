import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Key } from 'aws-cdk-lib/aws-kms';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { CUSTOMERS_TABLE, CUSTOMERS_TABLE_ENV } from '../../lambda/customers/customers-table';
import { createEncryptedTable } from './encrypted-table';

export interface CustomersTableProps {
  /** Keep the table and its key when the stack is deleted, and turn on deletion protection. */
  readonly retainData: boolean;
}

/** Customers and their API keys (hashes only), encrypted with a customer-managed KMS key. */
export class CustomersTable extends Construct {
  public readonly table: Table;
  public readonly encryptionKey: Key;
  public readonly partitionKey = CUSTOMERS_TABLE.partitionKey;
  public readonly sortKey = CUSTOMERS_TABLE.sortKey;
  public readonly byCreatedIndexName = CUSTOMERS_TABLE.byCreatedIndex.name;

  constructor(scope: Construct, id: string, props: CustomersTableProps) {
    super(scope, id);
    const { table, key } = createEncryptedTable(this, {
      purpose: 'customers',
      schema: { ...CUSTOMERS_TABLE, index: CUSTOMERS_TABLE.byCreatedIndex },
      retainData: props.retainData,
    });
    this.table = table;
    this.encryptionKey = key;
  }

  /** Lets `fn` also update single items (a customer's spend limit, on its customer and key items). */
  public bindForItemUpdates(fn: LambdaFunction): void {
    this.bindForItemReads(fn);
    fn.addToRolePolicy(
      new PolicyStatement({ actions: ['dynamodb:UpdateItem'], resources: [this.table.tableArn] }),
    );
    // Explicit actions on this key: `grantEncrypt` would add the wildcard families ReEncrypt* and
    // GenerateDataKey*.
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['kms:Encrypt', 'kms:GenerateDataKey'],
        resources: [this.encryptionKey.keyArn],
      }),
    );
  }

  /**
   * Lets `fn` manage a customer's named API keys (`/v1/keys`): write a new key item (never
   * overwriting one: the repository's put is conditional) and list a customer's keys through the
   * `byCreated` index.
   */
  public bindForKeyManagement(fn: LambdaFunction): void {
    this.bindForItemUpdates(fn);
    fn.addToRolePolicy(
      new PolicyStatement({ actions: ['dynamodb:PutItem'], resources: [this.table.tableArn] }),
    );
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${this.table.tableArn}/index/${CUSTOMERS_TABLE.byCreatedIndex.name}`],
      }),
    );
  }

  /**
   * Lets the authorizer `fn` read keys and mark a key's last use: UpdateItem only on key items
   * (`KEY#...`) and only of the key attributes and `lastUsedAt`, so it cannot change a key's tier,
   * status or limits.
   */
  public bindForKeyUseRecording(fn: LambdaFunction): void {
    this.bindForItemReads(fn);
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:UpdateItem'],
        resources: [this.table.tableArn],
        conditions: {
          'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['KEY#*'] },
          'ForAllValues:StringEquals': {
            'dynamodb:Attributes': [this.partitionKey, this.sortKey, 'lastUsedAt'],
          },
          StringEqualsIfExists: { 'dynamodb:ReturnValues': 'NONE' },
        },
      }),
    );
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['kms:Encrypt', 'kms:GenerateDataKey'],
        resources: [this.encryptionKey.keyArn],
      }),
    );
  }

  /**
   * Lets the API function `fn` list an organization's projects and page its audit log (OpenAI's
   * administration API): Query on the table, only in organizations' partitions (`CUSTOMER#...`,
   * `AUDIT#...`); writing them is the PutItem/UpdateItem it has for keys.
   */
  public bindForAdministration(fn: LambdaFunction): void {
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [this.table.tableArn],
        conditions: {
          'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['CUSTOMER#*', 'AUDIT#*'] },
        },
      }),
    );
  }

  /**
   * Lets the API function `fn` manage an organization's members and invites (lambda/accounts:
   * members.ts, invites.ts): list its invites (Query, only in `INVITES#...` partitions), remove a
   * membership or an invite (DeleteItem, only in `USER#...` and `INVITES#...` partitions); its
   * members are listed through the `byCreated` index and written with the PutItem and UpdateItem
   * it has for keys.
   */
  public bindForMembers(fn: LambdaFunction): void {
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['INVITES#*'] } },
      }),
    );
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:DeleteItem'],
        resources: [this.table.tableArn],
        conditions: {
          'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['USER#*', 'INVITES#*'] },
        },
      }),
    );
  }

  /**
   * Lets `fn` switch a customer's tier (lambda/customers/tier-switch.ts: billing's webhook and
   * hourly run): read the customer, update it and its keys, list its named keys (the `byCreated`
   * index). No PutItem or DeleteItem: it creates and removes nothing.
   */
  public bindForTierSwitch(fn: LambdaFunction): void {
    this.bindForItemUpdates(fn);
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${this.table.tableArn}/index/${CUSTOMERS_TABLE.byCreatedIndex.name}`],
      }),
    );
  }

  /** Lets `fn` read single items (key lookups, profiles) and tells it the table's name. */
  /**
   * Lets `fn` list a user's memberships (the console session's organizations): Query on the table,
   * only in users' partitions (`USER#...`).
   */
  public bindForMemberships(fn: LambdaFunction): void {
    this.bindForItemReads(fn);
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['USER#*'] } },
      }),
    );
  }

  /**
   * Lets `fn` run self-service sign-up (lambda/accounts/sign-up.ts): the customer creation undone or
   * cleaned after a crash deletes its e-mail claim, customer item and pending key, and a refused
   * sign-up frees its claim. DeleteItem only in those partitions; its PutItem, UpdateItem and
   * GetItem come with the key management and item updates the API function already has.
   */
  public bindForSignUp(fn: LambdaFunction): void {
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:DeleteItem'],
        resources: [this.table.tableArn],
        conditions: {
          'ForAllValues:StringLike': {
            'dynamodb:LeadingKeys': ['EMAIL#*', 'CUSTOMER#*', 'KEY#*', 'SIGNUP#*'],
          },
        },
      }),
    );
  }

  public bindForItemReads(fn: LambdaFunction): void {
    fn.addEnvironment(CUSTOMERS_TABLE_ENV, this.table.tableName);
    // GetItem on the table only: `table.grant` would add `index/*`, which item reads never need.
    fn.addToRolePolicy(
      new PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [this.table.tableArn] }),
    );
    this.encryptionKey.grantDecrypt(fn);
  }
}
