/** The accounts of the development provider: two fixed ones, and made-up claims for any other name. */

export interface AccountClaims {
  sub: string;
  name: string;
  given_name: string;
  email: string;
  email_verified: boolean;
  preferred_username: string;
}

const ACCOUNTS: Record<string, AccountClaims> = {
  alice: {
    sub: 'alice',
    name: 'Alice Liddell',
    given_name: 'Alice',
    email: 'alice@example.test',
    email_verified: true,
    preferred_username: 'alice',
  },
  bob: {
    sub: 'bob',
    name: 'Bob Builder',
    given_name: 'Bob',
    email: 'bob@example.test',
    email_verified: false,
    preferred_username: 'bob',
  },
};

/** The claims of a fixed account, or made-up claims for any other name (as devInteractions does). */
export function accountClaims(id: string): AccountClaims {
  return (
    (Object.hasOwn(ACCOUNTS, id) ? ACCOUNTS[id] : undefined) ?? {
      sub: id,
      name: id,
      given_name: id,
      email: `${id}@example.test`,
      email_verified: false,
      preferred_username: id,
    }
  );
}
