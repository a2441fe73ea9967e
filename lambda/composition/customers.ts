import { CustomersRepository } from '../customers/customers-repository';
import type { Engines } from './engines';

/** Customers and their keys (the authorizer's lookups, the account and key routes). */
export function customersRepository(engines: Pick<Engines, 'doc' | 'tables'>): CustomersRepository {
  return new CustomersRepository(engines.doc, engines.tables.customers);
}
