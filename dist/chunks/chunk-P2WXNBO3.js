import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as e,c as r}from"./chunk-67BG23Y2.js";var p=r((s,i)=>{i.exports=e("events")});var q=r((t,o)=>{o.exports=e("assert")});export{p as a,q as b};
