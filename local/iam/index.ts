/** The local runner's IAM policy evaluation: the public API of local/iam. */
export { Authorizer, type AuthorizationRequest, type AuthorizationResult, type AuthorizerOptions, type CheckResult } from './authorizer';
export { AccessLog, type AccessLogEntry, type AccessReport, type PrincipalReport, type StatementRef, type UnexercisedStatement, type UsedAccess } from './access-log';
export { AccessDeniedError, type AccessDeniedName, accessDeniedMessage } from './errors';
export { type Decision, PolicyEvaluator, PolicyValidationError } from './evaluate';
export { MissingParameterError, OperationTable, type RequiredCheck, UnmappedOperationError, normalizeOperation } from './operations';
export { buildPolicyStore, type OperatorOptions, type PolicyStoreOptions, UnknownManagedPolicyError } from './policies';
export { type Binding, type Bindings, type NamedPolicy, type PolicyDocument, PolicyStore, type Principal, type ResourcePolicy, roleArnOf } from './policy-store';
