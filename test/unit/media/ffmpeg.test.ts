import { parseVersionLine } from '../../../src/media/ffmpeg';

describe('parseVersionLine', () => {
  it.each([
    ['ffmpeg version N-47683-g0e8eb07980-static https://johnvansickle.com/ffmpeg/  Copyright (c) 2000-2018\nbuilt with gcc', 'N-47683-g0e8eb07980-static'],
    ['ffprobe version 6.1.1-3ubuntu5 Copyright (c) 2007-2023', '6.1.1-3ubuntu5'],
  ])('%j → %s', (output, version) => {
    expect(parseVersionLine(output)).toBe(version);
  });

  it('rejects output that is not a version banner', () => {
    expect(() => parseVersionLine('command not found')).toThrow(/unrecognised version output/);
  });
});
