/**
 * The error a denied AWS call fails with locally, shaped like the SDK's: `name` `AccessDenied` (S3) or
 * `AccessDeniedException` (other services), HTTP 403 in `$metadata`, and AWS's message, e.g.
 * `User: arn:aws:sts::000000000000:assumed-role/<role>/<session> is not authorized to perform: s3:GetObject on
 * resource: "arn:aws:s3:::bucket/key" because no identity-based policy allows the s3:GetObject action`.
 */

export type AccessDeniedName = 'AccessDenied' | 'AccessDeniedException';

/** Why a check was denied, in AWS's words (the part after the resource). */
export function denialPhrase(kind: 'explicit' | 'implicit', policyType: string, action: string): string {
  const what =
    policyType === 'resource'
      ? 'resource-based policy'
      : policyType === 'pb'
        ? 'permissions boundary'
        : policyType === 'scp'
          ? 'service control policy'
          : policyType === 'rcp'
            ? 'resource control policy'
            : policyType === 'vpce'
              ? 'VPC endpoint policy'
              : 'identity-based policy';
  const article = /^[aeiou]/i.test(what) ? 'an' : 'a';
  return kind === 'explicit' ? `with an explicit deny in ${article} ${what}` : `because no ${what} allows the ${action} action`;
}

export function accessDeniedMessage(callerArn: string, action: string, resource: string, reason: string): string {
  return `User: ${callerArn} is not authorized to perform: ${action} on resource: "${resource}" ${reason}`;
}

export class AccessDeniedError extends Error {
  override readonly name: AccessDeniedName;
  /** As the SDK's service exceptions carry them. */
  readonly $fault = 'client' as const;
  readonly $metadata = { httpStatusCode: 403 };
  readonly Code: AccessDeniedName;

  constructor(
    readonly principalArn: string,
    readonly action: string,
    readonly resource: string,
    readonly reason: string,
    readonly operation: string,
    options: { readonly name?: AccessDeniedName; readonly callerArn?: string } = {},
  ) {
    super(accessDeniedMessage(options.callerArn ?? principalArn, action, resource, reason));
    this.name = options.name ?? (operation.startsWith('S3.') ? 'AccessDenied' : 'AccessDeniedException');
    this.Code = this.name;
  }
}
