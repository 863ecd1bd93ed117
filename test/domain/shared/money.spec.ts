import { expect } from 'chai';
import { addDecimals, compareDecimals } from '../../../src/domain/shared/money.js';

describe('Money arithmetic', () => {
  it('adds decimal strings exactly, where binary floats would not', () => {
    expect(addDecimals('0.1', '0.2')).to.equal('0.3');
    expect(addDecimals('999999999999999.9999', '0.0001')).to.equal('1000000000000000');
    expect(addDecimals('12', '0.50')).to.equal('12.5');
    expect(addDecimals('0', '0')).to.equal('0');
  });
  it('compares decimal strings exactly, whatever their scale', () => {
    expect(compareDecimals('10.5', '10.50')).to.equal(0);
    expect(compareDecimals('9.99', '10')).to.equal(-1);
    expect(compareDecimals('100', '99.9999')).to.equal(1);
  });
});
