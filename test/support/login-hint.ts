/**
 * Many users at once on one non-interactive dev provider. `setAccount()` is global (the next
 * logins, whoever starts them), so concurrent logins cannot each pick their own user with it.
 * `accountsFromLoginHint(op)` makes every login that carries a `login_hint` (the library's
 * `login(ctx, { loginHint })`) log in as the account of that name: the login prompt's answer is
 * rewritten before oidc-provider stores it. Logins without a hint keep the dev provider's account.
 * (Only the test changes its own provider object: nothing of src/dev-provider is altered.)
 */
import type { DevProvider } from '../../src/dev-provider/index.js';

export function accountsFromLoginHint(op: DevProvider): void {
  const { provider } = op;
  const store = provider.interactionResult.bind(provider);
  provider.interactionResult = async (req, res, result, options) => {
    if (result.login !== undefined) {
      const { params } = await provider.interactionDetails(req, res);
      const hint = params.login_hint;
      if (typeof hint === 'string' && hint !== '') {
        result = { ...result, login: { ...(result.login as Record<string, unknown>), accountId: hint } };
      }
    }
    return store(req, res, result, options);
  };
}
