import type { LocalMode } from '../../local/local-mode';

/**
 * An admin key (`tl_admin_...`) for a customer of local mode, issued as the operator CLI does
 * (`npx tierline customers admin-key`): what tests use to manage keys and spend limits now that
 * inference keys may not. One per customer and test file, reused.
 */
export function adminKeys(local: () => LocalMode) {
  const issued = new Map<string, Promise<string>>();
  return (customerId: string): Promise<string> => {
    let key = issued.get(customerId);
    if (!key) {
      key = local()
        .operator.createAdminKey(customerId, 'tests')
        .then((created) => created.key);
      issued.set(customerId, key);
    }
    return key;
  };
}
