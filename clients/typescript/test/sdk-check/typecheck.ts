// Compiled with `tsc --noEmit -p .` by scripts/serve-sdk-check.sh: the hand-written typings of
// dfns-hsm-signer fit @dfns/sdk's CredentialSigner and DfnsApiClient.
import { DfnsApiClient } from '@dfns/sdk';
import type { CredentialSigner, UserActionChallenge, KeyAssertion as SdkKeyAssertion } from '@dfns/sdk/signer';
import {
  HsmRemoteSigner,
  HsmServiceError,
  HsmUnavailableError,
  HsmUnreachableError,
  type KeyAssertion,
} from 'dfns-hsm-signer';

const overSocket: CredentialSigner = new HsmRemoteSigner({ socketPath: '/run/dfns-hsm/sign.sock' });
const overTcp: CredentialSigner = new HsmRemoteSigner({
  url: 'https://signer.internal:8700',
  token: 'client-token',
  identity: 'treasury',
  timeoutMs: 5000,
  ca: '-----BEGIN CERTIFICATE-----',
});
export const client = new DfnsApiClient({ baseUrl: 'https://api.dfns.io', authToken: 'token', signer: overSocket });

export async function signOnce(challenge: UserActionChallenge): Promise<SdkKeyAssertion> {
  try {
    const assertion: KeyAssertion = await new HsmRemoteSigner({ socketPath: '/s' }).sign(challenge);
    return assertion;
  } catch (err) {
    if (err instanceof HsmUnavailableError) {
      const seconds: number | undefined = err.retryAfterSeconds;
      throw new Error(`retry in ${seconds}`);
    }
    if (err instanceof HsmServiceError) throw new Error(`${err.status} ${err.code}`);
    if (err instanceof HsmUnreachableError) throw new Error(`${err.code}`);
    throw err;
  }
}

// @ts-expect-error: socketPath and url are exclusive
new HsmRemoteSigner({ socketPath: '/s', url: 'http://127.0.0.1:1' });
void overTcp;
