export { notificationKey } from '../../local/s3-notifications.ts';

/**
 * S3 event notifications as S3 sends them. The record is the Lambda console's "s3-put" test event
 * (the shape of "Event message structure", Amazon S3 User Guide), with bucket, key and event name
 * replaced; the test message is the one the same page shows S3 sending when a notification is
 * configured.
 */
export function s3Notification(
  records: ReadonlyArray<{ bucket: string; key: string; eventName?: string }>,
): Record<string, unknown> {
  return {
    Records: records.map(({ bucket, key, eventName = 'ObjectCreated:Put' }) => ({
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: 'us-east-1',
      eventTime: '1970-01-01T00:00:00.000Z',
      eventName,
      userIdentity: { principalId: 'EXAMPLE' },
      requestParameters: { sourceIPAddress: '127.0.0.1' },
      responseElements: {
        'x-amz-request-id': 'EXAMPLE123456789',
        'x-amz-id-2': 'EXAMPLE123/5678abcdefghijklambdaisawesome/mnopqrstuvwxyzABCDEFGH',
      },
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: 'testConfigRule',
        bucket: { name: bucket, ownerIdentity: { principalId: 'EXAMPLE' }, arn: `arn:aws:s3:::${bucket}` },
        object: {
          key,
          size: 1024,
          eTag: '0123456789abcdef0123456789abcdef',
          sequencer: '0A1B2C3D4E5F678901',
        },
      },
    })),
  };
}

export const S3_TEST_EVENT = {
  Service: 'Amazon S3',
  Event: 's3:TestEvent',
  Time: '2014-10-13T15:57:02.089Z',
  Bucket: 'amzn-s3-demo-bucket',
  RequestId: '5582815E1AEA5ADF',
  HostId: '8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE',
};
