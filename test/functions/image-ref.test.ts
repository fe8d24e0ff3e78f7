import { describe, expect, it } from 'vitest';
import {
  arnRegionAccount,
  ecrRegistry,
  isDigest,
  parseImageRef,
  pinnedImage,
} from '../../functions/src/image-ref.ts';
import { story } from '../support/aws-fixtures.ts';

const { digest, registry } = story;

describe('image-ref', () => {
  describe('parseImageRef', () => {
    describe('accepts', () => {
      it.each([
        ['a tag', 'web:v1.4.2', { repository: 'web', tag: 'v1.4.2' }],
        ['a digest', `web@${digest}`, { repository: 'web', digest }],
        ['a tag and a digest', `web:v1.4.2@${digest}`, { repository: 'web', tag: 'v1.4.2', digest }],
        ['an ECR registry host', `${registry}/web:v1.4.2`, { registry, repository: 'web', tag: 'v1.4.2' }],
        [
          'a registry with a port and a namespaced repository',
          `localhost:5000/team/web-app@${digest}`,
          { registry: 'localhost:5000', repository: 'team/web-app', digest },
        ],
        [
          'a registry, tag and digest together',
          `${registry}/web:v1.4.2@${digest}`,
          { registry, repository: 'web', tag: 'v1.4.2', digest },
        ],
        ['surrounding whitespace', '  web:latest\n', { repository: 'web', tag: 'latest' }],
      ])('%s', (_, text, expected) => {
        expect(parseImageRef(text)).toEqual(expected);
      });

      it('keeps a namespace without dots or colons as part of the repository', () => {
        expect(parseImageRef('team/web:v1')).toEqual({ repository: 'team/web', tag: 'v1' });
      });
    });

    describe('rejects with InputInvalid', () => {
      it.each([
        ['an empty string', ''],
        ['a name with neither tag nor digest', 'web'],
        ['a short digest', 'web@sha256:0123456789abcdef'],
        ['an upper-case digest', `web@${digest.toUpperCase().replace('SHA256', 'sha256')}`],
        ['a digest of another algorithm', `web@sha512:${'a'.repeat(64)}`],
        ['a digest with a 60-digit hex (the ECR docs sample)', `web@sha256:${'a'.repeat(60)}`],
        ['an upper-case repository', 'Web:v1'],
        ['a tag starting with a dot', 'web:.v1'],
        ['a tag longer than 128 characters', `web:${'v'.repeat(129)}`],
        ['a double path traversal', '../../etc/passwd:1'],
        ['path traversal inside the repository', 'team/../x:1'],
        ['a registry host that is a dot segment', '../x:1'],
        ['a registry host with an empty label', 'a..b.com/web:1'],
        ['an empty tag', 'web:'],
      ])('%s', (_, text) => {
        expect(() => parseImageRef(text)).toThrow(expect.objectContaining({ name: 'InputInvalid' }));
      });

      it('quotes the reference and says what is wrong', () => {
        expect(() => parseImageRef('web@sha256:abc')).toThrow(
          'image "web@sha256:abc" is not a valid reference: the digest must be sha256: followed by 64 lower-case hex digits',
        );
      });

      it('caps the quoted reference at 300 characters', () => {
        expect(() => parseImageRef(`${'W'.repeat(1000)}:v1`)).toThrow(
          expect.objectContaining({ message: expect.not.stringContaining('W'.repeat(301)) }),
        );
      });
    });
  });

  describe('isDigest', () => {
    it('accepts sha256 with 64 lower-case hex digits only', () => {
      expect(isDigest(digest)).toBe(true);
      expect(isDigest(digest.slice(0, -1))).toBe(false);
      expect(isDigest(`${digest}0`)).toBe(false);
    });
  });

  describe('pinnedImage and ecrRegistry', () => {
    it('pins by digest behind the account and region registry', () => {
      expect(pinnedImage(ecrRegistry('210987654321', 'us-east-2'), 'web', digest)).toBe(
        `210987654321.dkr.ecr.us-east-2.amazonaws.com/web@${digest}`,
      );
    });
  });

  describe('arnRegionAccount', () => {
    it('reads region and account from an execution ARN', () => {
      expect(arnRegionAccount(story.executionArn)).toEqual({ region: 'eu-west-1', account: '123456789012' });
    });

    it('rejects an ARN without region or account', () => {
      expect(() => arnRegionAccount('arn:aws:iam::role/x')).toThrow(
        expect.objectContaining({ name: 'InputInvalid' }),
      );
    });
  });
});
