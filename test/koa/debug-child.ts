/** Child of server-errors.test.ts: two logins started with NODE_DEBUG set; prints the app's base URL. */
import { startHostileApp } from '../support/hostile-app.js';

const fx = await startHostileApp();
try {
  for (let i = 0; i < 2; i++) await fetch(`${fx.base}/openid/hostile/login`, { redirect: 'manual' });
  console.log(fx.base);
} finally {
  await fx.close();
}
