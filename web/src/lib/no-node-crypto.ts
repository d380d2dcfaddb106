// Stands in for node:crypto in the browser build: the SDK's verifyWebhook imports it, and the inbox
// never calls it (the bundler leaves it out).
const unavailable = () => {
  throw new Error('node:crypto is not available in the browser');
};
export const createHmac = unavailable;
export const timingSafeEqual = unavailable;
