import { request } from 'node:https';
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';

/** What a custom-resource implementation returns; throwing reports FAILED with the error message. */
export interface CustomResourceResult {
  PhysicalResourceId: string;
  Data?: Record<string, string>;
}

/**
 * Wraps a custom-resource implementation for a Lambda that CloudFormation invokes directly: the outcome (SUCCESS
 * with PhysicalResourceId/Data, or FAILED with the error message) is PUT to the pre-signed `ResponseURL`, so the
 * stack operation never waits for the 1-hour timeout.
 */
export function cfnResponder(
  impl: (event: CloudFormationCustomResourceEvent) => Promise<CustomResourceResult>,
  put: (url: string, body: string) => Promise<void> = putResponse,
) {
  return async (event: CloudFormationCustomResourceEvent, context?: Pick<Context, 'logStreamName'>): Promise<void> => {
    let body: Record<string, unknown>;
    try {
      const result = await impl(event);
      body = { Status: 'SUCCESS', PhysicalResourceId: result.PhysicalResourceId, Data: result.Data ?? {} };
    } catch (error) {
      const physical = 'PhysicalResourceId' in event ? event.PhysicalResourceId : `${event.LogicalResourceId}-failed-create`;
      const reason = `${(error as Error).message}`.slice(0, 3000);
      body = { Status: 'FAILED', Reason: `${reason} (log stream ${context?.logStreamName ?? 'n/a'})`, PhysicalResourceId: physical };
    }
    await put(
      event.ResponseURL,
      JSON.stringify({ ...body, StackId: event.StackId, RequestId: event.RequestId, LogicalResourceId: event.LogicalResourceId }),
    );
  };
}

function putResponse(url: string, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'PUT', headers: { 'content-type': '', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode && res.statusCode < 300 ? resolve() : reject(new Error(`CloudFormation response PUT: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}
