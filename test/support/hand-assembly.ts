/**
 * Pieces of the hand-written cloud assemblies the local-runner tests deploy (IAM is enforced there, so every
 * template carries its roles and policies): trust policies, policy documents, and the statements a state
 * machine role needs for `emr-serverless:startJobRun.sync` (README "What `.sync` needs").
 */
export const trust = (service: string) => ({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }] });

export const statements = (...list: Array<Record<string, unknown>>) => ({ Version: '2012-10-17', Statement: list.map((st) => ({ Effect: 'Allow', ...st })) });

/** StartJobRun on the application, GetJobRun/CancelJobRun on its job runs, PassRole of the job role, the events rule. */
export function startJobRunSyncStatements(applicationLogicalId: string, jobRoleLogicalId: string, options: { tagResource?: boolean } = {}): Array<Record<string, unknown>> {
  const tag = options.tagResource ? ['emr-serverless:TagResource'] : [];
  return [
    { Action: ['emr-serverless:StartJobRun', ...tag], Resource: { 'Fn::GetAtt': [applicationLogicalId, 'Arn'] } },
    { Action: ['emr-serverless:GetJobRun', 'emr-serverless:CancelJobRun', ...tag], Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [applicationLogicalId, 'Arn'] }, '/jobruns/*']] } },
    { Action: 'iam:PassRole', Resource: { 'Fn::GetAtt': [jobRoleLogicalId, 'Arn'] }, Condition: { StringEquals: { 'iam:PassedToService': 'emr-serverless.amazonaws.com' } } },
    { Action: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'], Resource: { 'Fn::Join': ['', ['arn:aws:events:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':rule/StepFunctionsGetEventsForEMRServerlessJobRule']] } },
  ];
}

/** An `AWS::IAM::Policy` attached to one role of the template. */
export const policy = (name: string, roleLogicalId: string, ...list: Array<Record<string, unknown>>) => ({
  Type: 'AWS::IAM::Policy',
  Properties: { PolicyName: name, Roles: [{ Ref: roleLogicalId }], PolicyDocument: statements(...list) },
});

/** An `AWS::IAM::Role` the given service may assume. */
export const role = (service: string) => ({ Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: trust(service) } });
