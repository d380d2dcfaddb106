import { seg, type Transport } from './transport.ts';
import type {
  DeliveryStatus,
  Page,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookEndpointWithSecret,
} from './types.ts';

// Outbound webhooks (an admin key's): endpoints that get the events they name, signed as Standard
// Webhooks says (check them with verifyWebhook), and the log of every delivery and its attempts.

export interface NewWebhookEndpoint {
  url: string;
  /** Event names (message.received ...), or ["*"] for all. */
  events: string[];
  /** Only these channels' events (default: all; a key limited to channels: its channels). */
  channels?: string[];
  description?: string;
  /** Default true. */
  enabled?: boolean;
}

export interface WebhookEndpointChange {
  url?: string;
  events?: string[];
  channels?: string[] | null;
  description?: string | null;
  /** Disabled: nothing is delivered (and what happens meanwhile is not sent later). */
  enabled?: boolean;
}

export interface DeliveryFilter {
  status?: DeliveryStatus;
  limit?: number;
  cursor?: string;
}

export interface AllDeliveriesFilter extends DeliveryFilter {
  endpointId?: string;
  /** A rule's `webhook` deliveries. */
  rule?: string;
}

export class WebhookEndpoints {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }

  /** Makes an endpoint; the answer's `secret` is shown this once. */
  create(request: NewWebhookEndpoint): Promise<WebhookEndpointWithSecret> {
    return this.#t.request({ method: 'POST', path: '/v1/webhook-endpoints', body: request });
  }

  async list(): Promise<WebhookEndpoint[]> {
    const { data } = await this.#t.request<{ data: WebhookEndpoint[] }>({
      method: 'GET',
      path: '/v1/webhook-endpoints',
    });
    return data;
  }

  get(id: string): Promise<WebhookEndpoint> {
    return this.#t.request({ method: 'GET', path: `/v1/webhook-endpoints/${seg(id)}` });
  }

  update(id: string, change: WebhookEndpointChange): Promise<WebhookEndpoint> {
    return this.#t.request({ method: 'PATCH', path: `/v1/webhook-endpoints/${seg(id)}`, body: change });
  }

  async delete(id: string): Promise<void> {
    await this.#t.request({ method: 'DELETE', path: `/v1/webhook-endpoints/${seg(id)}` });
  }

  /** A new secret; deliveries are signed with the previous one too for 24 hours. */
  rotateSecret(id: string): Promise<WebhookEndpointWithSecret> {
    return this.#t.request({
      method: 'POST',
      path: `/v1/webhook-endpoints/${seg(id)}/rotate-secret`,
      body: {},
    });
  }

  /** The endpoint's deliveries, newest first, each with its attempts. */
  deliveries(id: string, filter: DeliveryFilter = {}): Promise<Page<WebhookDelivery>> {
    return this.#t.request({
      method: 'GET',
      path: `/v1/webhook-endpoints/${seg(id)}/deliveries`,
      query: { ...filter },
    });
  }

  /** Every delivery (endpoints' and rules' `webhook` actions'), newest first. */
  allDeliveries(filter: AllDeliveriesFilter = {}): Promise<Page<WebhookDelivery>> {
    return this.#t.request({ method: 'GET', path: '/v1/webhook-deliveries', query: { ...filter } });
  }

  getDelivery(id: string): Promise<WebhookDelivery> {
    return this.#t.request({ method: 'GET', path: `/v1/webhook-deliveries/${seg(id)}` });
  }

  /** One more attempt now, with the same webhook-id. */
  retryDelivery(id: string): Promise<WebhookDelivery> {
    return this.#t.request({ method: 'POST', path: `/v1/webhook-deliveries/${seg(id)}/retry`, body: {} });
  }
}
